# Full duplex and many connections at once: a client that writes while the
# server writes back (partial writes and reads on both sides), and several
# clients whose traffic interleaves in one server process (mpm_event) or in
# several (prefork).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes random_utf8 OP_TEXT OP_BINARY OP_CLOSE);
use IO::Select;
use Time::HiRes qw(time);

my $CLIENTS = 20;
my $PER_CLIENT = 50;

plan tests => 3 + 3 + 3;

sub open_echo {
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    die "handshake on /echo failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

# 16 binary messages of 1 MiB written without waiting, echoes read meanwhile.
{
    my $ws = open_echo();
    my @msgs = map { random_bytes(1024 * 1024) } 1 .. 16;
    my $data = join '', map { $ws->frame(opcode => OP_BINARY, payload => $_) } @msgs;
    my $t0 = time;
    my $r = $ws->exchange($data, scalar @msgs, 30);
    is($r->{written}, length $data, '16 MiB written while reading the echoes');
    is(scalar @{ $r->{messages} }, 16, '16 echoes received')
        or diag(sprintf('after %.1f s; eof=%s close=%s', time - $t0, $ws->{eof} || 'no',
                        $r->{close} ? $r->{close}{code} // 'empty' : 'none'));
    my @bad = grep { !$r->{messages}[$_] || $r->{messages}[$_]{payload} ne $msgs[$_] } 0 .. 15;
    ok(!@bad, '... all intact and in order') or diag("first bad index $bad[0]");
}

# Many small text messages, mixed sizes, pipelined full duplex.
{
    my $ws = open_echo();
    my @msgs = map { random_utf8(1 + int(rand(3000))) } 1 .. 2000;
    my $data = join '', map { $ws->frame(opcode => OP_TEXT, payload => $_) } @msgs;
    my $r = $ws->exchange($data, scalar @msgs, 30);
    is($r->{written}, length $data, '2000 text messages written');
    is(scalar @{ $r->{messages} }, 2000, '2000 echoes received');
    my @bad = grep { $r->{messages}[$_]{payload} ne $msgs[$_]
                     || $r->{messages}[$_]{opcode} != OP_TEXT } 0 .. $#{ $r->{messages} };
    ok(!@bad, '... all intact and in order') or diag("first bad index $bad[0]");
}

# Several clients at once, their messages interleaved.
{
    my @ws = map { open_echo() } 1 .. $CLIENTS;
    my (%sent, %got);
    my $deadline = time + 30;
    # Round-robin: each client sends one message per turn, then all replies
    # are collected as they come.
    for my $i (1 .. $PER_CLIENT) {
        for my $c (0 .. $#ws) {
            my $p = "client $c message $i " . ('z' x (($c * 7 + $i) % 300));
            push @{ $sent{$c} }, $p;
            $ws[$c]->send_text($p);
        }
    }
    my $sel = IO::Select->new(map { $_->sock } @ws);
    my %by_sock = map { (fileno($ws[$_]->sock) => $_) } 0 .. $#ws;
    my $total = $CLIENTS * $PER_CLIENT;
    my $count = 0;
    while ($count < $total && time < $deadline) {
        for my $fh ($sel->can_read($deadline - time)) {
            my $c = $by_sock{ fileno $fh };
            my $w = $ws[$c];
            $w->_fill(time + 0.001);
            while (my $f = $w->_parse_frame) {
                push @{ $got{$c} }, $f->{payload};
                $count++;
            }
            $sel->remove($fh) if $w->{eof};
        }
    }
    is($count, $total, "$CLIENTS clients x $PER_CLIENT messages: all echoes arrived");
    my @wrong = grep { !$got{$_} || "@{ $got{$_} }" ne "@{ $sent{$_} }" } 0 .. $#ws;
    ok(!@wrong, 'each client got its own messages, in order')
        or diag("clients with wrong echoes: @wrong");
    my $closed = 0;
    for my $w (@ws) {
        $w->close(1000);
        my $f = $w->read_close(10);
        $closed++ if $f && ($f->{code} // 0) == 1000 && $w->wait_eof(10);
    }
    is($closed, $CLIENTS, "all $CLIENTS close cleanly");
}
