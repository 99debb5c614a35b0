# Graceful restart with server pushes in flight: every open WebSocket gets
# close 1001 "server shutting down" AFTER everything already queued to it.
#
# - 20 WebSockets to /test each send "push 3000" (the handler queues
#   "push 1" .. "push 3000" in one callback);
# - 5 more each send "flood 65536 1000" (64 KiB binary messages with a
#   sequence number, 64 MiB in all: far more than can go out before the
#   restart; the handler keeps the 4 MiB queue full, WebSocketMaxPendingOutput's
#   default, and refills it from on_drain);
# - as soon as the first message of each has arrived (so the command was
#   read: a command arriving after the close frame is queued would be
#   discarded, rightly) and without reading further, SIGUSR1 (graceful
#   restart, `apachectl -k graceful`) goes to the Apache::Test server's
#   parent.
# Then every push client must read all 3000 messages in order, then close
# 1001; every flood client an unbroken run 1..k of intact messages with
# k >= 64 (the first on_message alone queued 64: 64 x 65,546 bytes is the
# first total at or over 4 MiB), then close 1001; nothing after the close
# frame.  Afterwards the old generation's children exit and a new
# connection is served.
#
# t/protocol/restart.t restarts the same server too; both leave it serving
# (this file ends only once a new-generation connection has echoed).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(OP_TEXT OP_BINARY OP_CLOSE OP_PING);
use IO::Select;
use Errno qw(EAGAIN EWOULDBLOCK EINTR ECONNRESET);
use Time::HiRes qw(time);
use WSTestEnv ();

my $PUSHERS  = 20;
my $PUSHES   = 3000;
my $FLOODERS = 5;
my $FLOOD_SIZE = 65536;
my $FLOOD_COUNT = 1000;
my $MIN_FLOOD = 64;

my $pid_file;
unless ($ENV{WSCLIENT_PORT}) {
    my $logs = Apache::Test::vars('t_logs');
    $pid_file = "$logs/httpd.pid" if $logs;
}

# A one-process server (httpd -X: make test-valgrind) has no children to
# replace: a graceful restart there is not what this file tests.
plan skip_all => 'needs a server with children (this one runs as one process, httpd -X)'
    if WSTestEnv::one_process();
plan tests => 1 + 2 * 5 + 2 + 2,
    sub { $pid_file && -r $pid_file ? 1 : 'no httpd.pid (stand-in server?)' };

sub read_pid {
    open my $fh, '<', $pid_file or die "$pid_file: $!\n";
    my $pid = <$fh>;
    close $fh;
    chomp $pid;
    return $pid;
}

sub children_of {
    my ($parent) = @_;
    my @kids;
    opendir my $d, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/status" or next;
        while (<$st>) {
            if (/^PPid:\s+(\d+)/) { push @kids, $pid if $1 == $parent; last }
        }
    }
    return @kids;
}

sub open_test {
    my ($ws, $res) = WSClient->open_ws('/test', timeout => 10);
    die "handshake on /test failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

my $template = join '', map { chr($_ & 0xff) } 0 .. $FLOOD_SIZE - 1;
sub flood_ok {
    my ($payload, $seq) = @_;
    return length($payload) == $FLOOD_SIZE
        && substr($payload, 0, 8) eq pack('NN', int($seq / 4294967296), $seq % 4294967296)
        && substr($payload, 8) eq substr($template, 8);
}

my $parent = read_pid();
my @old_children = children_of($parent);

my @conns;
for my $i (1 .. $PUSHERS) {
    my $ws = open_test();
    push @conns, { ws => $ws, kind => 'push', name => "pusher $i", got => 0, bad => [] };
}
for my $i (1 .. $FLOODERS) {
    my $ws = open_test();
    push @conns, { ws => $ws, kind => 'flood', name => "flooder $i", got => 0, bad => [] };
}
$_->{ws}->send_text("push $PUSHES") for grep { $_->{kind} eq 'push' } @conns;
$_->{ws}->send_text("flood $FLOOD_SIZE $FLOOD_COUNT") for grep { $_->{kind} eq 'flood' } @conns;

# Checks one data frame against what this connection must receive next.
sub take {
    my ($c, $f) = @_;
    if ($c->{close}) {
        push @{ $c->{bad} }, 'data after the close frame: ' . WSClient::describe($f);
        return;
    }
    my $n = $c->{got} + 1;
    if ($c->{kind} eq 'push') {
        push @{ $c->{bad} }, "message $n: " . WSClient::describe($f)
            unless $f->{opcode} == OP_TEXT && $f->{fin} && $f->{payload} eq "push $n";
    }
    else {
        push @{ $c->{bad} }, "message $n: " . WSClient::describe($f)
            unless $f->{opcode} == OP_BINARY && $f->{fin} && flood_ok($f->{payload}, $n);
    }
    $c->{got}++;
}

# The first message of each: the command was read.
my $first_ok = 0;
for my $c (@conns) {
    my $f = $c->{ws}->read_frame(10);
    if ($f && $f->{opcode} != OP_CLOSE) { take($c, $f); $first_ok++ }
    else { push @{ $c->{bad} }, 'no first message: ' . WSClient::describe($f) }
}
is($first_ok, scalar @conns, 'every connection got its first message before the restart');

kill 'USR1', $parent or die "cannot signal httpd ($parent): $!\n";
my $t0 = time;

# Read everything from all connections at once (bounded), until each has a
# close frame or EOF.
{
    my %by_fd = map { fileno($_->{ws}->sock) => $_ } @conns;
    my $sel = IO::Select->new(map { $_->{ws}->sock } @conns);
    my $deadline = time + 30;
    while ($sel->count && time < $deadline) {
        my @ready = $sel->can_read($deadline - time);
        for my $s (@ready) {
            my $c = $by_fd{ fileno $s };
            my $ws = $c->{ws};
            my $n = sysread($s, my $chunk, 1 << 20);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $c->{eof} = $! == ECONNRESET ? 'reset' : "error: $!";
            }
            elsif ($n == 0) { $c->{eof} = 'eof' }
            else { $ws->{buf} .= $chunk }
            while (!$c->{close} && (my $f = $ws->_parse_frame)) {
                if ($f->{opcode} == OP_CLOSE) {
                    $c->{close} = $f;
                    $c->{close_at} = time - $t0;
                    $ws->close(1001);          # complete the handshake
                }
                elsif ($f->{opcode} == OP_PING) { $ws->pong($f->{payload}) }
                else { take($c, $f) }
            }
            # After the close frame only EOF may come.
            if ($c->{close} && length $ws->{buf}) {
                my $f = $ws->_parse_frame;
                push @{ $c->{bad} }, 'bytes after the close frame: ' . WSClient::describe($f);
                $ws->{buf} = '';
            }
            $sel->remove($s) if $c->{eof};
        }
    }
    $_->{eof} //= 'none within 30 s' for grep { !$_->{eof} } @conns;
}

for my $kind (qw(push flood)) {
    my @c = grep { $_->{kind} eq $kind } @conns;
    my $want = $kind eq 'push' ? "all $PUSHES" : ">= $MIN_FLOOD";
    my @short = grep { $kind eq 'push' ? $_->{got} != $PUSHES : $_->{got} < $MIN_FLOOD } @c;
    ok(!@short, sprintf '%d %s clients: each received %s messages', scalar @c, $kind, $want)
        or diag(join "\n", map { "$_->{name}: $_->{got} messages" } @short);
    my @bad = grep { @{ $_->{bad} } } @c;
    ok(!@bad, "... in order and intact, nothing after the close frame")
        or diag(join "\n", map { "$_->{name}: " . join('; ', @{ $_->{bad} }[0 .. ($#{ $_->{bad} } > 2 ? 2 : $#{ $_->{bad} })]) } @bad);
    my @noclose = grep { !$_->{close} || ($_->{close}{code} // 0) != 1001 } @c;
    ok(!@noclose, '... then a close frame 1001')
        or diag(join "\n", map { "$_->{name}: close " . WSClient::describe($_->{close}) . ", eof $_->{eof}" } @noclose);
    my @reason = grep { $_->{close} && $_->{close}{reason} ne 'server shutting down' } @c;
    ok(!@reason, '... with reason "server shutting down"')
        or diag(join "\n", map { "$_->{name}: reason '$_->{close}{reason}'" } @reason);
    my @noeof = grep { $_->{eof} ne 'eof' } @c;
    ok(!@noeof, '... and then the server ended TCP (EOF)')
        or diag(join "\n", map { "$_->{name}: $_->{eof}" } @noeof);
    my @at = sort { $a <=> $b } map { $_->{close_at} // () } @c;
    diag(sprintf '%s: close frames %.2f .. %.2f s after the signal; messages %s',
         $kind, $at[0] // -1, $at[-1] // -1,
         $kind eq 'push' ? $PUSHES : join(',', map { $_->{got} } @c)) if @at;
}
$_->{ws}->disconnect for @conns;

# The old generation goes away...
{
    my $deadline = time + 20;
    my @left;
    while (1) {
        my %kids = map { $_ => 1 } children_of($parent);
        @left = grep { $kids{$_} } @old_children;
        last if !@left || time >= $deadline;
        select(undef, undef, undef, 0.1);
    }
    ok(!@left, sprintf 'the old generation\'s %d children exited within 20 s', scalar @old_children)
        or diag("still there: @left");
    is(read_pid(), $parent, '... and the parent is the same process');
}

# ... and the new one serves.  A connection accepted by an old child just
# before it stopped is legitimately closed with 1001: try again (bounded).
{
    my ($echoed, $closed, @history);
    my $deadline = time + 15;
    while (time < $deadline) {
        my $ws = open_test();
        $ws->send_text('after restart');
        my $m = $ws->read_message(10);
        if (!$m || $m->{opcode} == OP_CLOSE) {
            push @history, 'no echo: ' . WSClient::describe($m);
            next if $m && ($m->{code} // 0) == 1001;
            last;
        }
        $echoed = $m->{payload} eq 'after restart';
        $ws->close(1000);
        my $f = $ws->read_close(10);
        push @history, 'echo, then ' . WSClient::describe($f);
        if ($f && ($f->{code} // 0) == 1001) { $echoed = 0; next }
        $closed = $f && ($f->{code} // 0) == 1000;
        last;
    }
    ok($echoed, 'after the graceful restart a new client echoes') or diag(join "\n", @history);
    ok($closed, '... and closes normally (1000)') or diag(join "\n", @history);
}
