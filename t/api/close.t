# The close example (handlers/close.c at /close, after pywebsocket's
# close_wsh.py): "<code> <reason>" makes the server close with that code
# and reason; a request it cannot honour gets "error: ..." and the
# connection stays open (a valid request then still works on it); a close
# the client starts is answered with its code.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT);

my @asks = ([1000, 'bye'], [1001, 'going away'], [1003, ''], [1011, 'oops'],
            [3000, 'x'], [4999, "\x{c3}\x{a9}t\x{c3}\x{a9}"], [4000, 'r' x 123]);
my @bad = (['1005 no status', qr/^error: 1005 is not a close code a server may send/],
           ['1006',           qr/^error: 1006 is not a close code/],
           ['999 low',        qr/^error: 999 is not a close code/],
           ['5000 high',      qr/^error: 5000 is not a close code/],
           ['2999 gap',       qr/^error: 2999 is not a close code/],
           ['bye',            qr/^error: expected "<code> <reason>" with a numeric code/],
           ['4000x',          qr/^error: expected "<code> <reason>"/],
           ['',               qr/^error: expected "<code> <reason>"/],
           ['4000 ' . ('r' x 124), qr/^error: the reason must fit in 123 bytes/]);
plan tests => 2 * @asks + @bad + 4;

# Asks for a close; returns the server's close frame (or undef) and
# whether TCP then ended (after our answering close).
sub ask {
    my ($text) = @_;
    my $ws = WSClient->open_ws('/close');
    $ws->send_text($text);
    my $f = $ws->read_close(5);
    $ws->close($f->{code}, $f->{reason}) if $f && defined $f->{code};
    return ($f, $ws->wait_eof(5));
}

for my $a (@asks) {
    my ($code, $reason) = @$a;
    my ($f, $eof) = ask(length $reason ? "$code $reason" : "$code");
    ok($f && $f->{code} == $code && $f->{reason} eq $reason,
       "\"$code ...\": the server closes with $code and the reason ("
       . length($reason) . ' bytes)')
        or diag($f ? "close " . ($f->{code} // 'none') . " '$f->{reason}'" : 'no close frame');
    ok($eof, "... and ends TCP after our answer");
}

# Requests it cannot honour: one text message each, on one connection that
# stays open throughout.
my $ws = WSClient->open_ws('/close');
for my $b (@bad) {
    $ws->send_text($b->[0]);
    my $m = $ws->read_message(5);
    ok($m && $m->{opcode} == OP_TEXT && $m->{payload} =~ $b->[1],
       'refused: "' . substr($b->[0], 0, 16) . '"')
        or diag($m ? "got opcode $m->{opcode} '$m->{payload}'" : 'nothing');
}
$ws->send_binary('4000 bye');
my $m = $ws->read_message(5);
like($m && $m->{payload}, qr/^error: send text/, 'a binary message is refused');
$ws->send_text('4001 after all');
my $f = $ws->read_close(5);
ok($f && $f->{code} == 4001 && $f->{reason} eq 'after all',
   'after the refusals the same connection still closes as asked');

# The client closes first: the module answers with the client's code.
$ws = WSClient->open_ws('/close');
$ws->close(4321, 'mine');
$f = $ws->read_close(5);
is($f && $f->{code}, 4321, 'a close the client starts is answered with its code');
ok($ws->wait_eof(5), '... and TCP ends');
