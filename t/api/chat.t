# The chat example (handlers/chat.c at <Location /chat>): rooms are topics
# "chat/<room>" from ?room= or the path (/chat/kitchen), nicknames from
# ?nick= or "/nick <name>"; join, rename and leave notices and messages go
# to the room, the sender's own messages back to it; another room sees
# nothing of them; bad names are refused with a message or close 1008.
#
# Under prefork every WebSocket is a child of its own and, without
# WebSocketPubSub, a topic does not leave its child: the checks where one
# connection must see another's messages are skipped there; those about a
# connection's own view of its room run under both MPMs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT OP_CLOSE);

plan tests => 28;

my $prefork = ($ENV{WS_TEST_MPM} // 'event') eq 'prefork';
my $CROSS = 'prefork: each WebSocket is a child of its own, and without '
          . 'WebSocketPubSub a topic stays in its child';
my $room = "lobby$$";                # not shared with an earlier run

# The next message as a string: its text, or what came instead.
sub next_msg {
    my ($ws, $secs) = @_;
    my $m = $ws->read_message($secs // 5);
    return '(timeout or EOF: ' . ($ws->{eof} // 'timeout') . ')' unless $m;
    return "(close $m->{code} $m->{reason})" if $m->{opcode} == OP_CLOSE;
    return "(opcode $m->{opcode})" unless $m->{opcode} == OP_TEXT;
    return $m->{payload};
}

sub chat { WSClient->open_ws("/chat$_[0]") }

# The kitchen first, so that every lobby event below happens while it is a
# member of a room of its own.
my $k = chat('/kitchen?nick=carol');
is($k->{response}{status}, 101, 'handshake on /chat/kitchen');
is(next_msg($k), '* carol joined', 'the room from the path: carol joins the kitchen');

my $a = chat("?room=$room&nick=alice");
is(next_msg($a), '* alice joined', 'the joiner gets its own join notice');
my $b = chat("?nick=bob&room=$room");
is(next_msg($b), '* bob joined', 'a second member joins (parameters in any order)');
SKIP: {
    skip $CROSS, 1 if $prefork;
    is(next_msg($a), '* bob joined', 'the first member sees the join notice');
}

$a->send_text('hello, room');
is(next_msg($a), 'alice: hello, room', 'the sender gets its own message back, with its nick');
SKIP: {
    skip $CROSS, 2 if $prefork;
    is(next_msg($b), 'alice: hello, room', 'the other member gets it');
    $b->send_text("hi alice \x{e2}\x{82}\x{ac}");      # UTF-8 passes through
    is(next_msg($a), "bob: hi alice \x{e2}\x{82}\x{ac}", "and the other way round");
}
next_msg($b) unless $prefork;        # bob's own copy

# The lobby's messages were delivered (seen above) before carol speaks: had
# any reached the kitchen it would come before her own message.
$k->send_text('anyone?');
is(next_msg($k), 'carol: anyone?', 'the kitchen saw nothing of the lobby');
$a->send_text('sync');
is(next_msg($a), 'alice: sync', 'the lobby saw nothing of the kitchen');

# A nickname from the first "/nick" message.
my $d = chat("?room=$room");
like(next_msg($d), qr/^! welcome to \Q$room\E: choose a nickname with \/nick <name>$/,
     'without ?nick= the server asks for one');
$d->send_text('hi');
like(next_msg($d), qr/^! choose a nickname first/, 'a message before the nickname is refused');
$d->send_text('/nick bad nick');
like(next_msg($d), qr/^! a nickname is 1-24 letters/, 'a nickname with a space is refused');
$d->send_text('/nick ' . ('x' x 25));
like(next_msg($d), qr/^! a nickname is 1-24/, 'a nickname of 25 bytes is refused');
$d->send_text('/nick dave');
is(next_msg($d), '* dave joined', '"/nick dave" joins the room');
$d->send_text('/nick david');
is(next_msg($d), '* dave is now david', 'a second "/nick" renames');
SKIP: {
    skip $CROSS, 2 if $prefork;
    is(next_msg($a), '* dave joined', 'the room sees the join');
    is(next_msg($a), '* dave is now david', '... and the rename');
    next_msg($b) for 1 .. 2;
}
$d->send_binary("\x00\x01");
is(next_msg($d), '! text messages only', 'a binary message is refused');
$d->send_text('y' x 4097);
is(next_msg($d), '! message too long (at most 4096 bytes)', 'a message over 4096 bytes is refused');
$d->send_text('z' x 4096);
is(next_msg($d), 'david: ' . ('z' x 4096), 'one of 4096 bytes goes');
next_msg($a) unless $prefork;
next_msg($b) unless $prefork;

# Leaving: the rest of the room hears of it.
$b->close(1000, 'bye');
my $f = $b->read_close(5);
is($f && $f->{code}, 1000, 'bob closes: the close handshake completes');
SKIP: {
    skip $CROSS, 2 if $prefork;
    is(next_msg($a), '* bob left', 'the room sees bob leave');
    # ?room= wins over the path.
    my $e = chat("/kitchen?room=$room&nick=eve");
    next_msg($e);
    is(next_msg($a), '* eve joined', '?room= wins over the path');
    $e->close(1000);
}

# Names the URL gets wrong: close 1008 with the reason.
for my $case (['?room=no%20way&nick=x', qr/^bad room name/, 'a room with %20'],
              ['/a/b?nick=x',          qr/^bad room name/, 'a path of two segments'],
              ["?room=$room&nick=a%2Fb", qr/^bad nickname/, 'a nickname with %2F'],
              ['?room=&nick=x',        qr/^bad room name/, 'an empty ?room=']) {
    my ($ws, $res) = WSClient->open_ws("/chat$case->[0]");
    my $c = $ws->read_close(5);
    ok($c && $c->{code} == 1008 && $c->{reason} =~ $case->[1], "$case->[2]: close 1008")
        or diag($c ? "close $c->{code} '$c->{reason}'" : "no close frame (status $res->{status})");
}
$_->close(1000) for $a, $d, $k;
