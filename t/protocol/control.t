# Control frames: ping/pong, unsolicited pong, and the closing handshake
# started by either side.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes OP_TEXT OP_BINARY OP_CLOSE OP_PING OP_PONG);
use Time::HiRes qw(time);

plan tests => 6 + 2 + 9 + 4 + 4 + 6 + 4 + 3 + 3 + 4 + 3 + 3;

# After the closing handshake completes, the server closes TCP at once
# (RFC 6455 7.1.1: the server closes first).  It must not wait for an idle
# timeout to do it.
my $PROMPT = 2.5;

sub open_ws {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path, timeout => 10);
    die "handshake on $path failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

sub frame_is {
    my ($f, $opcode, $payload, $name) = @_;
    ok($f && $f->{opcode} == $opcode && $f->{payload} eq $payload, $name)
        or diag('got ' . WSClient::describe($f) . "; wanted opcode $opcode payload '$payload'");
}

# Waits for EOF after the closing handshake; asserts it came, and quickly.
sub closes_promptly {
    my ($ws, $name) = @_;
    my $t0 = time;
    my $eof = $ws->wait_eof(10);
    my $took = time - $t0;
    ok($eof, "$name: TCP closed") or diag('no EOF within 10 s');
    ok($eof && $took < $PROMPT, "$name: TCP closed promptly (< $PROMPT s)")
        or diag(sprintf('took %.2f s', $took));
}

# ------------------------------------------------------------ ping / pong
{
    my $ws = open_echo();
    $ws->ping('hello');
    frame_is($ws->read_frame(10), OP_PONG, 'hello', 'ping "hello" -> pong "hello"');

    $ws->ping('');
    frame_is($ws->read_frame(10), OP_PONG, '', 'empty ping -> empty pong');

    my $p = random_bytes(125);
    $ws->ping($p);
    frame_is($ws->read_frame(10), OP_PONG, $p, 'ping with a 125-byte payload -> same pong');

    # Unsolicited pong: no answer, the connection carries on.
    $ws->pong('unsolicited');
    $ws->send_text('after pong');
    frame_is($ws->read_frame(10), OP_TEXT, 'after pong',
             'unsolicited pong ignored: the next frame is the echo');

    # Several pings in a row: one pong each, in order.
    $ws->ping("p$_") for 1 .. 5;
    my @got = map { my $f = $ws->read_frame(10); $f ? "$f->{opcode}:$f->{payload}" : 'none' } 1 .. 5;
    is_deeply(\@got, [map { OP_PONG . ":p$_" } 1 .. 5], 'five pings -> five pongs in order');

    # A ping in the middle of pipelined data: the pong may come before or
    # after the first echo (RFC 6455 5.5.2: "as soon as practical"), the
    # echoes keep their order.
    $ws->send_raw($ws->frame(opcode => OP_TEXT, payload => 'a')
                . $ws->frame(opcode => OP_PING, payload => 'b')
                . $ws->frame(opcode => OP_TEXT, payload => 'c'));
    @got = map { my $f = $ws->read_frame(10); $f ? "$f->{opcode}:$f->{payload}" : 'none' } 1 .. 3;
    my @texts = grep { /^1:/ } @got;
    my @pongs = grep { /^10:/ } @got;
    ok("@texts" eq '1:a 1:c' && "@pongs" eq '10:b',
       'text, ping, text in one write -> both echoes in order and the pong')
        or diag("got @got");
}

sub open_echo { open_ws('/echo') }

# Binary ping payload (any bytes) comes back byte for byte.
{
    my $ws = open_echo();
    my $p = join '', map { chr } 0 .. 124;
    $ws->ping($p);
    frame_is($ws->read_frame(10), OP_PONG, $p, 'ping with bytes 0..124 -> same pong');
    $ws->send_binary("\x00\xff");
    frame_is($ws->read_frame(10), OP_BINARY, "\x00\xff", 'still echoes after');
}

# ------------------------------------------------------------ client-initiated close
{
    my $ws = open_echo();
    $ws->close(1000, 'client done');
    my $f = $ws->read_close(10);
    is($f ? $f->{opcode} : undef, OP_CLOSE, 'client close 1000 + reason: server answers with a close frame')
        or diag('got ' . WSClient::describe($f));
    is($f ? $f->{code} : undef, 1000, 'client close 1000: the server echoes code 1000');
    ok($f && !@{ $f->{skipped} }, 'client close: nothing but the close frame came back')
        or diag(scalar(@{ $f->{skipped} || [] }) . ' frames before the close');
    closes_promptly($ws, 'client close 1000');

    $ws = open_echo();
    $ws->close(undef);      # empty payload
    $f = $ws->read_close(10);
    is($f ? $f->{opcode} : undef, OP_CLOSE, 'client close without payload: server answers with a close frame')
        or diag('got ' . WSClient::describe($f));
    ok($f && (!defined $f->{code} || $f->{code} == 1000),
       'client close without payload: the answer is empty or 1000')
        or diag('got ' . WSClient::describe($f));
    closes_promptly($ws, 'client close without payload');
}

# A message sent right before the close is still echoed, before the close.
{
    my $ws = open_echo();
    $ws->send_raw($ws->frame(opcode => OP_TEXT, payload => 'last words')
                . $ws->frame(opcode => OP_CLOSE, payload => pack('n', 1001) . 'going away'));
    my $f = $ws->read_close(10);
    my @data = map { $_->{payload} } grep { $_->{opcode} == OP_TEXT } @{ $f ? $f->{skipped} : [] };
    is_deeply(\@data, ['last words'], 'text then close in one write: the text is echoed first');
    is($f ? $f->{code} : undef, 1001, 'close 1001 echoed');
    ok($ws->wait_eof(10), 'text then close: TCP closed');
    # After the close, data sent by the client is ignored: nothing else came.
    is($ws->{buf}, '', 'nothing after the close frame');
}

# ------------------------------------------------------------ server-initiated close
{
    my $ws = open_echo();
    $ws->send_text('Goodbye');
    my $m = $ws->read_frame(10);
    frame_is($m, OP_TEXT, 'Goodbye', '"Goodbye" on /echo is echoed first');
    my $f = $ws->read_frame(10);
    is($f ? $f->{opcode} : undef, OP_CLOSE, '... then a close frame')
        or diag('got ' . WSClient::describe($f));
    is($f ? $f->{code} : undef, 1000, '... with code 1000');
    $ws->close(1000);
    ok($ws->wait_eof(10), 'client answers the close: TCP closed');
}

{
    my $ws = open_ws('/test');
    $ws->send_text('close 4001 bye');
    my $f = $ws->read_frame(10);
    is($f ? $f->{opcode} : undef, OP_CLOSE, '/test "close 4001 bye": a close frame')
        or diag('got ' . WSClient::describe($f));
    is($f ? $f->{code} : undef, 4001, '/test "close 4001 bye": code 4001');
    is($f ? $f->{reason} : undef, 'bye', '/test "close 4001 bye": reason "bye"');
    $ws->close(4001, 'bye');
    closes_promptly($ws, '/test close 4001 answered');
    is($ws->{buf}, '', 'nothing after the close frame');
}

# The server's close, then the client sends data before answering: the data
# is not echoed (the server is closing), the close still completes.
{
    my $ws = open_ws('/test');
    $ws->send_text('close 1000 done');
    my $f = $ws->read_frame(10);
    is($f ? $f->{code} : undef, 1000, '/test "close 1000 done": code 1000');
    $ws->send_text('too late');
    $ws->close(1000);
    ok($ws->wait_eof(10), 'data after the server close, then close: TCP closed');
    my $left = $ws->read_frame(0);
    ok(!$left, 'nothing was echoed after the server sent its close')
        or diag('got ' . WSClient::describe($left));
    is($f ? $f->{reason} : undef, 'done', 'reason "done"');
}

# The server closes and the client never answers: the server must not keep
# the connection forever (bounded wait; RFC 6455 7.1.1 lets it close TCP).
{
    my $ws = open_ws('/test');
    $ws->send_text('close 4005 no answer');
    my $f = $ws->read_frame(10);
    is($f ? $f->{code} : undef, 4005, 'server close 4005, client silent: close frame');
    my $t0 = time;
    my $eof = $ws->wait_eof(10);
    ok($eof, 'client never answers the close: the server closes TCP anyway (within 10 s)');
    diag(sprintf('server closed TCP %.2f s after its close frame', time - $t0)) if $eof;
    # Under prefork this process must be free again: a new client is served.
    my $ws2 = open_echo();
    $ws2->send_text('next');
    my $m = $ws2->read_message(10);
    is($m ? $m->{payload} : undef, 'next', 'a new client is served after that');
}

# A close reason of exactly 123 bytes (payload 125) is valid and echoed.
{
    my $ws = open_echo();
    my $reason = 'r' x 123;
    $ws->close(1000, $reason);
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, 'close with a 123-byte reason: answered with 1000');
    ok($f && length($f->{payload}) <= 125, 'the answer fits a control frame');
    ok($ws->wait_eof(10), 'then TCP closed');
}

# The client sends its close and half-closes TCP at once (shutdown SHUT_WR):
# the server still owes it a close frame, on the open direction.
{
    my $ws = open_echo();
    $ws->close(1000, 'half');
    shutdown($ws->sock, 1);
    my $f = $ws->read_close(10);
    is($f ? $f->{opcode} : undef, OP_CLOSE,
       'close then shutdown(SHUT_WR): the server still answers with a close frame')
        or diag('got ' . WSClient::describe($f) . ', eof=' . ($ws->{eof} || 'no'));
    is($f ? $f->{code} : undef, 1000, '... code 1000');
    ok($ws->wait_eof(10), '... then TCP closed');

    # Same with a message first: echo, close, EOF.
    $ws = open_echo();
    $ws->send_raw($ws->frame(opcode => OP_TEXT, payload => 'before half-close')
                . $ws->frame(opcode => OP_CLOSE, payload => pack('n', 1000)));
    shutdown($ws->sock, 1);
    $f = $ws->read_close(10);
    my @data = map { $_->{payload} } grep { $_->{opcode} == OP_TEXT } @{ $f ? $f->{skipped} : [] };
    ok($f && "@data" eq 'before half-close',
       'message, close, shutdown(SHUT_WR): echo then close frame')
        or diag('got ' . WSClient::describe($f) . ', data: @data, eof=' . ($ws->{eof} || 'no'));
}

# A close frame in the middle of a fragmented message: the close is
# answered, the unfinished message is dropped.
{
    my $ws = open_echo();
    $ws->send_frame(opcode => OP_TEXT, fin => 0, payload => 'never finished');
    $ws->close(1000, 'mid-message');
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, 'close inside a fragmented message: answered with 1000');
    ok($f && !@{ $f->{skipped} }, 'the unfinished message is not delivered')
        or diag(join '; ', map { WSClient::describe($_) } @{ $f ? $f->{skipped} : [] });
    ok($ws->wait_eof(10), 'then TCP closed');
}

# Data after the client's close is ignored (nothing after a close counts).
{
    my $ws = open_echo();
    $ws->send_raw($ws->frame(opcode => OP_CLOSE, payload => pack('n', 1000))
                . $ws->frame(opcode => OP_TEXT, payload => 'after close')
                . $ws->frame(opcode => OP_PING, payload => 'after close'));
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, 'close then more frames: answered with 1000');
    ok($f && !@{ $f->{skipped} }, 'frames sent after the close got no answer before it');
    $ws->wait_eof(10);
    my @after;
    while (my $x = $ws->read_frame(0)) { push @after, $x }
    ok(!@after, 'and none after it')
        or diag(join '; ', map { WSClient::describe($_) } @after);
}
