# An upgrade request must not carry an HTTP body: RFC 6455 4.1 defines the
# opening handshake as a GET without one, and bytes sent as a body are not
# WebSocket input.  A handshake with a body (Content-Length > 0, or
# Transfer-Encoding) is refused with 400; Content-Length: 0 is no body and
# still upgrades.
#
# Regression test: the module answered 101 and parsed the body bytes as
# frames (a masked text frame sent as the body came back as an echo; a
# chunked body was read as frames and the connection closed with 1002).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT OP_CLOSE);

plan tests => 3 + 3 + 2 + 3;

my $port = WSClient::server_port();

# What came back after the response head within $t s: 'eof', 'reset', or
# a description of the frame/bytes that came instead.
sub after_response {
    my ($ws, $t) = @_;
    my $f = $ws->read_frame($t);
    return $f ? 'a frame: ' . WSClient::describe($f)
              : ($ws->{eof} || (length $ws->{buf} ? 'bytes: ' . length($ws->{buf}) : 'nothing'));
}

# 1. Content-Length with a masked text frame as the body.
{
    my $ws = WSClient->new(port => $port, timeout => 5);
    my $frame = $ws->frame(opcode => OP_TEXT, payload => 'smuggled');
    my $res = $ws->handshake(path => '/echo', body => $frame,
                             headers => [['Content-Length' => length $frame]]);
    is($res->{status}, 400, 'Content-Length: ' . length($frame)
       . ' with a masked text frame as the body: 400')
        or diag("got $res->{status} $res->{reason}");
    ok(!defined $res->{headers}{'sec-websocket-accept'}, '... no Sec-WebSocket-Accept');
    # Nothing may come back as an echo of the body (a 400 closes or keeps
    # the HTTP connection; it must not carry WebSocket frames).
    my $f = $res->{status} == 101 ? $ws->read_frame(3) : undef;
    ok(!($f && $f->{opcode} == OP_TEXT && $f->{payload} eq 'smuggled'),
       '... and the body is not echoed as a message')
        or diag('echoed: ' . WSClient::describe($f));
}

# 2. Transfer-Encoding: chunked, the chunk holding a masked text frame.
{
    my $ws = WSClient->new(port => $port, timeout => 5);
    my $frame = $ws->frame(opcode => OP_TEXT, payload => 'chunked');
    my $body = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $frame, $frame);
    my $res = $ws->handshake(path => '/echo', body => $body,
                             headers => [['Transfer-Encoding' => 'chunked']]);
    is($res->{status}, 400, 'Transfer-Encoding: chunked: 400')
        or diag("got $res->{status} $res->{reason}"
                . ($res->{status} == 101 ? '; then ' . after_response($ws, 3) : ''));
    ok(!defined $res->{headers}{'sec-websocket-accept'}, '... no Sec-WebSocket-Accept');
    my $f = $res->{status} == 101 ? $ws->read_frame(3) : undef;
    ok(!($f && $f->{opcode} == OP_TEXT), '... and no message from the body')
        or diag('got: ' . WSClient::describe($f));
}

# 3. The same on the test handler's location (the refusal is the module's,
#    not the echo handler's).
{
    my $ws = WSClient->new(port => $port, timeout => 5);
    my $frame = $ws->frame(opcode => OP_TEXT, payload => 'protocol');
    my $res = $ws->handshake(path => '/test', body => $frame,
                             headers => [['Content-Length' => length $frame]]);
    is($res->{status}, 400, '/test with a Content-Length body: 400')
        or diag("got $res->{status}");
    my $f = $res->{status} == 101 ? $ws->read_frame(3) : undef;
    ok(!$f || $f->{opcode} != OP_TEXT, '... the body is not handled as a command')
        or diag('got: ' . WSClient::describe($f));
}

# 4. Content-Length: 0 is no body: the upgrade goes through and works.
{
    my $ws = WSClient->new(port => $port, timeout => 5);
    my $res = $ws->handshake(path => '/echo', headers => [['Content-Length' => '0']]);
    is($res->{status}, 101, 'Content-Length: 0: 101');
    is($res->{headers}{'sec-websocket-accept'} // '', $res->{accept_expected},
       '... with the right Sec-WebSocket-Accept');
    my $ok = 0;
    if ($res->{status} == 101) {
        $ws->send_text('after an empty body');
        my $m = $ws->read_message(5);
        $ok = $m && $m->{opcode} == OP_TEXT && $m->{payload} eq 'after an empty body';
        $ws->close(1000);
        $ws->read_close(5);
    }
    ok($ok, '... and echoes');
}
