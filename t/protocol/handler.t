# The handler API as seen from the wire, through the test handler's
# commands (t/handlers/test_handler.c): ws_send of many and of large
# messages, ws_header, ws_user, ws_buffered_amount, ws_close with a reason
# cut to fit and with invalid codes.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(OP_TEXT OP_BINARY OP_CLOSE OP_PING OP_PONG);

plan tests => 4 + 6 + 5 + 3 + 7 + 4 + 4 + 3 + 2 + 3 + 3 + 2 + 8 + 2 + 8 + 3;

sub open_test {
    my (%o) = @_;
    my ($ws, $res) = WSClient->open_ws('/test', timeout => 10, %o);
    die "handshake on /test failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

sub pattern { my $n = shift; join '', map { chr($_ & 0xff) } 0 .. $n - 1 }

sub say_ {
    my ($ws, $cmd) = @_;
    $ws->send_text($cmd);
    return $ws->read_message(10);
}

# ------------------------------------------------------------ push
{
    my $ws = open_test();
    $ws->send_text('push 1');
    my $m = $ws->read_message(10);
    is($m ? $m->{payload} : undef, 'push 1', '"push 1" -> one message');

    $ws->send_text('push 1000');
    my @got;
    for (1 .. 1000) {
        my $msg = $ws->read_message(10) or last;
        push @got, $msg->{payload};
    }
    is(scalar @got, 1000, '"push 1000" -> 1000 messages');
    is_deeply(\@got, [map { "push $_" } 1 .. 1000], '... in order, none lost or repeated');
    # And the connection is still in step: the next reply is ours.
    $m = say_($ws, 'after the push');
    is($m ? $m->{payload} : undef, 'after the push', 'echo after the push');
}

# ------------------------------------------------------------ binary n
{
    my $ws = open_test();
    for my $n (0, 1, 125, 65536, 1024 * 1024, 8 * 1024 * 1024) {
        $ws->send_text("binary $n");
        my $m = $ws->read_message(10);
        ok($m && $m->{opcode} == OP_BINARY && $m->{payload} eq pattern($n),
           "\"binary $n\" -> $n bytes of i & 0xff")
            or diag($m ? "opcode $m->{opcode}, " . length($m->{payload}) . ' bytes'
                       : 'nothing');
    }
}

# ------------------------------------------------------------ header / user / buffered
{
    my $ws = open_test(headers => [['X-Custom' => 'some value, with comma'],
                                   ['Origin' => 'http://example.test']]);
    my $m = say_($ws, 'header X-Custom');
    is($m ? $m->{payload} : undef, 'some value, with comma', 'ws_header(X-Custom)');
    $m = say_($ws, 'header x-custom');
    is($m ? $m->{payload} : undef, 'some value, with comma', 'ws_header is case-insensitive');
    $m = say_($ws, 'header Origin');
    is($m ? $m->{payload} : undef, 'http://example.test', 'ws_header(Origin)');
    $m = say_($ws, 'header X-Not-Sent');
    is($m ? $m->{payload} : undef, '(none)', 'ws_header of a header not sent -> NULL');
    $m = say_($ws, 'header Sec-WebSocket-Key');
    is($m ? $m->{payload} : undef, $ws->{response}{key}, 'ws_header(Sec-WebSocket-Key) is the key sent');
}
{
    my $ws = open_test();
    my $m = say_($ws, 'user');
    is($m ? $m->{payload} : undef, '(none)', 'ws_user without authentication -> NULL');
    $m = say_($ws, 'buffered');
    like($m ? $m->{payload} : '', qr/^\d+$/, 'ws_buffered_amount is a number');
    # Nothing is queued while the handler runs for an idle connection.
    is($m ? $m->{payload} : undef, '0', 'ws_buffered_amount on an idle connection is 0');
}

# ------------------------------------------------------------ ws_close
{
    # A reason longer than 123 bytes is cut to fit, on a character boundary.
    my $ws = open_test();
    my $long = "\xC3\xA9" x 100;        # 'é' x 100: 200 bytes
    $ws->send_text("close 4002 $long");
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 4002, 'close with a 200-byte reason: code 4002');
    ok($f && length($f->{payload}) <= 125, 'close payload fits a control frame (<= 125 bytes)')
        or diag('payload length ' . ($f ? length $f->{payload} : 'none'));
    my $r = $f ? $f->{reason} : '';
    ok($r ne '' && substr($long, 0, length $r) eq $r, 'the reason is a prefix of the one given')
        or diag('reason: ' . unpack('H*', $r));
    ok($r ne '' && utf8::decode(my $copy = $r), 'the cut reason is still valid UTF-8 (cut on a character boundary)')
        or diag('reason bytes: ' . unpack('H*', $r));
    $ws->close(4002);
    ok($ws->wait_eof(10), 'then TCP closed');

    # Code 0: a close frame without a status code.
    $ws = open_test();
    $ws->send_text('close 0');
    $f = $ws->read_close(10);
    ok($f && $f->{payload} eq '', '"close 0" -> a close frame with an empty payload')
        or diag('got ' . WSClient::describe($f));
    $ws->close;
    ok($ws->wait_eof(10), 'then TCP closed');
}
{
    # Invalid codes are refused by ws_close (WS_EINVAL): nothing is sent and
    # the connection goes on.
    my $ws = open_test();
    for my $code (1005, 1006, 1015, 2000, 5000) {
        $ws->send_text("close $code nope");
    }
    my $m = say_($ws, 'still open?');
    is($m ? $m->{opcode} : undef, OP_TEXT, 'ws_close with invalid codes sends nothing')
        or diag('got ' . WSClient::describe($m));
    is($m ? $m->{payload} : undef, 'still open?', '... and the connection still echoes');

    # Once closing, further ws_close calls and sends do nothing more.
    $ws->send_raw($ws->frame(opcode => OP_TEXT, payload => 'close 4003 first')
                . $ws->frame(opcode => OP_TEXT, payload => 'close 4004 second'));
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 4003, 'two ws_close calls: the first one wins');
    $ws->close(4003);
    $ws->wait_eof(10);
    my @more;
    while (my $x = $ws->read_frame(0)) { push @more, $x }
    is(scalar @more, 0, 'nothing was sent after the close frame')
        or diag(join '; ', map { WSClient::describe($_) } @more);
}

# ------------------------------------------------------------ slow reader
{
    # The client stops reading while the handler queues 16 MiB; then reads.
    my $ws = open_test();
    $ws->send_text('binary 16777216');
    $ws->send_text('buffered');
    my $m = $ws->read_message(20);
    ok($m && $m->{opcode} == OP_BINARY && length($m->{payload}) == 16777216
          && $m->{payload} eq pattern(16777216),
       '16 MiB binary from the handler arrives intact')
        or diag($m ? length($m->{payload}) . ' bytes' : 'nothing');
    $m = $ws->read_message(10);
    # (Any number: the server may rightly stop reading while 16 MiB wait,
    # and read "buffered" only once they are out.)
    like($m ? $m->{payload} : '', qr/^\d+$/, '"buffered" answered after it')
        or diag('got ' . WSClient::describe($m));
    $m = say_($ws, 'bye now');
    is($m ? $m->{payload} : undef, 'bye now', 'still echoes');
    $ws->close(1000);
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, 'closes normally');
}

# ------------------------------------------------------------ sends from a foreign thread
{
    my $ws = open_test();
    $ws->send_text('thread 500');
    my @got;
    for (1 .. 500) {
        my $m = $ws->read_message(10) or last;
        push @got, $m->{payload};
    }
    is(scalar @got, 500, '"thread 500": 500 messages sent from a handler thread arrive');
    is_deeply(\@got, [map { "thread $_" } 1 .. 500], '... in order');
    my $m = say_($ws, 'after thread');
    is($m ? $m->{payload} : undef, 'after thread', 'the connection is still in step');
}
{
    # A foreign thread and the loop sending at the same time.
    my $ws = open_test();
    $ws->send_raw($ws->frame(opcode => OP_TEXT, payload => 'thread 300')
                . $ws->frame(opcode => OP_TEXT, payload => 'push 300'));
    my (@t, @p, @other);
    for (1 .. 600) {
        my $m = $ws->read_message(10) or last;
        if    ($m->{payload} =~ /^thread /) { push @t, $m->{payload} }
        elsif ($m->{payload} =~ /^push /)   { push @p, $m->{payload} }
        else                                { push @other, $m->{payload} }
    }
    is_deeply(\@t, [map { "thread $_" } 1 .. 300], 'thread + loop sending together: thread messages all there, in order');
    is_deeply(\@p, [map { "push $_" } 1 .. 300], '... loop messages all there, in order')
        or diag(scalar(@other) . ' unexpected messages');
}
{
    # The client closes while a handler thread is still sending: the thread's
    # sends start failing (WS_ECLOSED), the close completes, nothing breaks.
    my $ws = open_test();
    $ws->send_text('thread 100000');
    my $first = $ws->read_message(10);
    is($first ? $first->{payload} : undef, 'thread 1', 'a long-running sender thread started');
    $ws->close(1000, 'enough');
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, 'client close while the thread sends: answered with 1000')
        or diag(scalar(@{ $ws->{skipped} || [] }) . ' frames read, no close');
    ok($ws->wait_eof(10), '... then TCP closed');
}

# ------------------------------------------------------------ uri, remote ip
{
    my $ws = open_test();
    my $m = say_($ws, 'uri');
    is($m ? $m->{payload} : undef, '/test', 'ws_uri is the request path');
    $m = say_($ws, 'ip');
    is($m ? $m->{payload} : undef, '127.0.0.1', 'ws_remote_ip is the client address');
    my $ws2 = WSClient->open_ws('/test?room=5');
    $m = say_($ws2, 'uri');
    like($m ? $m->{payload} : '', qr{^/test(\?room=5)?$}, 'ws_uri with a query string: the path (with or without the query)');
}

# ------------------------------------------------------------ invalid arguments
{
    my $ws = open_test();
    my $m = say_($ws, 'sendbad');
    is($m ? $m->{payload} : undef, 'rc=-2', 'ws_send_text of invalid UTF-8 -> WS_EINVAL')
        or diag('got ' . WSClient::describe($m));
    $m = say_($ws, 'still ok');
    is($m ? $m->{payload} : undef, 'still ok', '... nothing was sent, the connection goes on');
}
{
    my $ws = open_test();
    for my $code (999, 1004, 1005, 1006, 1015, 2999, 5000) {
        my $m = say_($ws, "closerc $code x");
        is($m ? $m->{payload} : undef, 'rc=-2', "ws_close($code) -> WS_EINVAL")
            or diag('got ' . WSClient::describe($m));
    }
    $ws->send_text('closerc 3000 fine');
    my $f = $ws->read_close(10);
    ok($f && $f->{code} == 3000 && $f->{reason} eq 'fine' && !@{ $f->{skipped} },
       'then ws_close(3000, "fine") -> close frame 3000 "fine", no rc reply before it')
        or diag('got ' . WSClient::describe($f));
}
{
    # ws_close with a reason that is not UTF-8: refused, or sent without
    # that reason; never invalid UTF-8 on the wire.
    my $ws = open_test();
    $ws->send_text('closebad');
    my $f = $ws->read_frame(10);
    if ($f && $f->{opcode} == OP_CLOSE) {
        ok(utf8::decode(my $r = $f->{reason}), 'ws_close with an invalid reason: the close frame carries valid UTF-8')
            or diag('reason bytes: ' . unpack('H*', $f->{reason}));
        pass('(the close was accepted)');
    }
    else {
        is($f ? $f->{payload} : undef, 'rc=-2', 'ws_close with an invalid reason -> WS_EINVAL');
        my $m = say_($ws, 'open?');
        is($m ? $m->{payload} : undef, 'open?', '... and the connection goes on');
    }
}

# ------------------------------------------------------------ ws_select_protocol
sub selected {
    my ($offer, $select) = @_;
    my @h = (['X-Test-Select' => $select]);
    push @h, ['Sec-WebSocket-Protocol' => $offer] if defined $offer;
    my ($ws, $res) = WSClient->open_ws('/test', headers => \@h);
    return ($res->{status}, $res->{headers}{'sec-websocket-protocol'});
}
{
    my ($st, $p) = selected('chat', 'chat');
    is("$st " . ($p // '-'), '101 chat', 'offer chat, select chat -> chat');
    ($st, $p) = selected('chat', 'superchat');
    is("$st " . ($p // '-'), '101 -', 'offer chat, select superchat (not offered) -> none');
    ($st, $p) = selected('chatty', 'chat');
    is("$st " . ($p // '-'), '101 -', 'offer chatty, select chat (a prefix) -> none');
    ($st, $p) = selected('xchat, chat2', 'chat');
    is("$st " . ($p // '-'), '101 -', 'offer xchat, chat2, select chat -> none');
    ($st, $p) = selected(undef, 'chat');
    is("$st " . ($p // '-'), '101 -', 'no offer, select chat -> none');
    ($st, $p) = selected('Chat', 'chat');
    is("$st " . ($p // '-'), '101 -', 'offer Chat, select chat -> none (case-sensitive)');
    ($st, $p) = selected('a, b ,  chat  ,d', 'chat');
    is("$st " . ($p // '-'), '101 chat', 'offer with odd spacing, select chat -> chat');
    ($st, $p) = selected('chat, superchat', 'chat, superchat');
    is("$st " . ($p // '-'), '101 -', 'select "chat, superchat" (a list, not a name) -> none');
}

# ------------------------------------------------------------ ws_buffered_amount
{
    # Right after queueing 16 MiB for a client that is not reading, the
    # amount is above 0 and at most the frame's size.
    my $ws = open_test();
    my $n = 16 * 1024 * 1024;
    $ws->send_text("binbuffered $n");
    my $bin = $ws->read_message(20);
    ok($bin && $bin->{opcode} == OP_BINARY && length($bin->{payload}) == $n,
       '"binbuffered 16 MiB": the 16 MiB arrive');
    my $m = $ws->read_message(10);
    my $v = $m ? $m->{payload} : '';
    ok($v =~ /^\d+$/ && $v > 0 && $v <= $n + 14,
       "ws_buffered_amount right after ws_send of 16 MiB: between 1 and the frame size")
        or diag("got '$v'");
    $m = say_($ws, 'buffered');
    is($m ? $m->{payload} : undef, '0', 'once the client has read it all: 0');
}
