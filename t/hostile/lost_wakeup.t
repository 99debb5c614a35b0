# Lost wakeups: a handler that sends and closes from threads of its own (the
# README's recommended pattern for slow work) while hundreds of clients come,
# go and vanish.  Every message and every close the handler queued must
# reach its client in bounded time, no server connection may be left behind,
# and the server must be idle once no client is left.
#
# Regression test for run_ready() (src/engine/ws_loop.c) walking its taken
# ready list unlocked while handler threads re-link entries through
# ws_loop_schedule(): the walk was cut short and later connections were
# never flushed (data, close frames) until something else woke them.
#
# /hostile/threads (t/conf/extra.conf.in) runs t/handlers/hostile_handler.c
# with WebSocketMaxPendingOutput 2048.  The driver is
# t/clients/hostile_threads.py (Debian's python3-websockets): $CLIENTS
# concurrent clients for $DURATION s, sessions back to back, random rounds
# (work with "done" or a server close, an echo answered by a handler thread,
# an abrupt exit by FIN or RST, a clean close); any wait for the next frame
# longer than 3 s is a failure.  Afterwards, bounded polls:
#   - the server's ESTABLISHED and CLOSE-WAIT TCP sockets on the test port
#     (/proc/net/tcp{,6}, local port) come back to the baseline (within 10 s),
#   - mod_status's WebSocketsOpen comes back to the baseline, and so do the
#     children's open fds (/proc/<pid>/fd; t/lib/Hostile.pm),
#   - the children's CPU time (utime + stime, /proc/<pid>/stat) over 2 s
#     with no client left is at most 5 % of one core.
# mpm_event: 400 clients; mpm_prefork: 60 (each WebSocket holds a process of
# the suite's 150; under prefork a process has one connection, so its ready
# list holds at most one entry, but the assertions hold all the same).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use InteropClient;
use Hostile;
use POSIX ();
use Time::HiRes qw(time sleep);
use WSTestEnv ();

my $MPM      = InteropClient::loaded_mpm();
my $CLIENTS  = $MPM eq 'prefork' ? 60 : 400;
my $DURATION = 12;
my $PORT     = InteropClient::port();
my $pid_file = Apache::Test::vars('t_logs') . '/httpd.pid';

my @checks = qw(work_done server_close thread_echo client_close no_stall);

plan tests => 1 + @checks + 1 + 4,
    sub { -r $pid_file ? 1 : 'no httpd.pid (stand-in server?)' };

my $parent = do { open my $fh, '<', $pid_file or die "$pid_file: $!"; local $/; <$fh> };
chomp $parent;

# Server-side TCP sockets on the test port by state (local port only: the
# clients' ends have it as the remote port).
sub server_sockets {
    my %n = (ESTABLISHED => 0, CLOSE_WAIT => 0);
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my (undef, $local, undef, $st) = split ' ';
            my ($port) = $local =~ /:([0-9A-F]{4})$/ or next;
            next unless hex($port) == $PORT;
            $n{ESTABLISHED}++ if $st eq '01';
            $n{CLOSE_WAIT}++  if $st eq '08';
        }
    }
    return \%n;
}

sub ws_open {
    my $res = GET('/server-status?auto');
    return undef unless $res->is_success;
    my ($n) = $res->content =~ /^WebSocketsOpen: (\d+)$/m;
    return $n;
}

sub children { # pids of the server's children (itself when one process)
    return WSTestEnv::server_pids($parent);
}

sub cpu_ticks { # utime + stime of the given pids (that still exist)
    my %t;
    for my $pid (@_) {
        open my $st, '<', "/proc/$pid/stat" or next;
        my $l = <$st> // next;
        $l =~ s/^.*\) //;                # the fields after the command name
        my @f = split ' ', $l;
        $t{$pid} = $f[11] + $f[12];     # fields 14 and 15 of stat(5)
    }
    return \%t;
}

# Polls $cond (a sub) every 0.2 s until true or $limit s: returns the last value.
sub poll_until {
    my ($limit, $cond) = @_;
    my $deadline = time + $limit;
    my $v;
    while (1) {
        $v = $cond->();
        return $v if $v || time >= $deadline;
        sleep 0.2;
    }
}

my $srv = Hostile->suite;
my $bl = $srv->baseline;
my $base_sock = server_sockets();
my $base_open = ws_open() // 0;
diag("before: $base_sock->{ESTABLISHED} ESTABLISHED, $base_sock->{CLOSE_WAIT} CLOSE-WAIT "
     . "server sockets on port $PORT; WebSocketsOpen $base_open");

my $ok_ws = system(InteropClient::PYTHON, '-c', 'import websockets') == 0;
ok($ok_ws, 'Debian python3-websockets importable')
    or diag('install it: apt-get install python3-websockets (scripts/deps.sh does)');

my $seed = $ENV{WS_HOSTILE_SEED} || int(time);
my $run = InteropClient::run(
    name    => "hostile_threads ($MPM, $CLIENTS clients, ${DURATION}s)",
    timeout => $DURATION + 40,
    cmd     => [InteropClient::PYTHON, InteropClient::client('hostile_threads.py'),
                '--host', InteropClient::host(), '--port', $PORT,
                '--clients', $CLIENTS, '--duration', $DURATION,
                '--reply-timeout', 3, '--seed', $seed],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
if (my ($counts) = grep { $_->{counts} } @{ $run->{extra} }) {
    diag('seed ' . $seed . ', counts: '
         . join(', ', map { "$_=$counts->{counts}{$_}" } sort keys %{ $counts->{counts} }));
}

# No server connection left behind (sockets of the Apache::Test client's
# own keep-alive status requests are the baseline's business: at most that).
my $left = poll_until(10, sub {
    my $s = server_sockets();
    return ($s->{ESTABLISHED} <= $base_sock->{ESTABLISHED} + 1
            && $s->{CLOSE_WAIT} <= $base_sock->{CLOSE_WAIT}) ? $s : undef;
}) || server_sockets();
ok($left->{ESTABLISHED} <= $base_sock->{ESTABLISHED} + 1
   && $left->{CLOSE_WAIT} <= $base_sock->{CLOSE_WAIT},
   "within 10 s no server socket left on port $PORT "
   . "($left->{ESTABLISHED} ESTABLISHED, $left->{CLOSE_WAIT} CLOSE-WAIT; "
   . "before $base_sock->{ESTABLISHED}/$base_sock->{CLOSE_WAIT})");

my $open = poll_until(10, sub { my $n = ws_open(); defined $n && $n <= $base_open ? "$n" : undef })
           // ws_open() // 'unknown';
ok($open ne 'unknown' && $open <= $base_open,
   "WebSocketsOpen back to $base_open (now $open)");

{
    my @over;
    Hostile::poll_until(10, sub { @over = $srv->fds_over($bl); !@over });
    ok(!@over, "every child's open fds back to the baseline") or diag(join ', ', @over);
}

# Idle: no client left, the children must not burn CPU.
{
    my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
    my @kids = children();
    my $t0 = time;
    my $a = cpu_ticks(@kids);
    sleep 2;
    my $b = cpu_ticks(@kids);
    my $el = time - $t0;
    my $used = 0;
    $used += $b->{$_} - $a->{$_} for grep { exists $b->{$_} } keys %$a;
    my $frac = $used / $hz / $el;
    cmp_ok($frac, '<=', 0.05,
           sprintf('idle server: the children used %.1f %% of a core over %.1f s '
                   . '(%d ticks, %d children)', 100 * $frac, $el, $used, scalar @kids));
}
