# Clients that flood empty pings, or empty messages, and never read must
# cost the server memory within WebSocketMaxPendingOutput, not only wire
# bytes within it.
#
# Regression test: the outbound bound counted wire bytes, so a queue of
# 2-byte pongs (each a separate allocation, tens of bytes of memory) held
# ~45 MiB against the documented 4 MiB bound; 20 such clients, +858 MiB.
#
# /hostile/pingflood (t/conf/extra.conf.in): the echo handler with
# WebSocketMaxPendingOutput 65536.  Two floods, one after the other: $N
# clients with small socket buffers (SO_RCVBUF/SO_SNDBUF 16 KiB) write
# empty masked pings (each answered by a pong: the control lane) or empty
# text messages (each echoed: the message queue, which pauses reading at
# half the bound) as fast as the server takes them for $FLOOD s and never
# read.  Meanwhile:
#   - the RSS of the server's children (VmRSS, by PPid from t/logs/httpd.pid;
#     summed over the children alive before and during, like
#     t/ops/backpressure.t) may grow by at most
#     N x (bound + one pong frame) x 4 + 16 MiB of slack (allocator, kernel
#     accounting), sampled every 0.25 s, the largest growth counts;
#   - an /echo client keeps getting its echoes (each within 2 s).
# Then the flooders reset their connections (RST), and the server's
# WebSocketsOpen must come back to the baseline within 10 s; at the end
# also every child's open fds (t/lib/Hostile.pm).
# Under ASan (WS_ASAN_DIR) only the RSS bound is skipped: freed memory sits
# in ASan's quarantine.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Hostile;
use WSClient qw(random_key accept_key OP_TEXT OP_PING);
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF SO_SNDBUF inet_aton pack_sockaddr_in);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Time::HiRes qw(time sleep);
use WSTestEnv ();

my $N       = 10;
my $FLOOD   = 4;                               # seconds
my $BOUND   = 65536;                           # WebSocketMaxPendingOutput
my $PONG    = 2 + 125;                         # the largest pong frame
my $MiB     = 1024 * 1024;
my $ALLOWED = $N * ($BOUND + $PONG) * 4 + 16 * $MiB;
my @KINDS   = ([ping => OP_PING, 'empty pings'], [empty => OP_TEXT, 'empty text messages']);

my $pid_file = Apache::Test::vars('t_logs') . '/httpd.pid';
plan tests => 6 * @KINDS + 1,
    sub { -r $pid_file ? 1 : 'no httpd.pid (stand-in server?)' };

my $srv = Hostile->suite;
my $first = $srv->baseline;

sub children_rss { my $r = $srv->children_rss; return { map { $_ => $r->{$_}[0] } keys %$r } }

sub small_client {
    my ($path) = @_;
    my $port = WSClient::server_port();
    my $ws = WSClient->new(port => $port, timeout => 10, rcvbuf => 16384, sndbuf => 16384);
    my $key = random_key();
    $ws->send_raw("GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\n"
                  . "Sec-WebSocket-Version: 13\r\n\r\n");
    my $res = $ws->read_response(timeout => 10);
    my $ok = $res->{status} == 101
        && ($res->{headers}{'sec-websocket-accept'} // '') eq accept_key($key);
    return $ok ? $ws : undef;
}

for my $kind (@KINDS) {
    my ($name, $opcode, $what) = @$kind;
    my $base_open = $srv->ws_open // 0;
    my @f = grep { defined } map { small_client('/hostile/pingflood') } 1 .. $N;
    is(scalar @f, $N, "$name: $N WebSockets to /hostile/pingflood opened");
    # Each echoes once, so that (under prefork) the processes holding them exist
    # and have touched their memory before "before".
    my $echoed = 0;
    for my $i (0 .. $#f) {
        $f[$i]->send_text("hello $i");
        my $m = $f[$i]->read_message(10);
        $echoed++ if $m && $m->{opcode} == OP_TEXT && $m->{payload} eq "hello $i";
    }
    is($echoed, $N, "$name: ... and each echoed a message");
    my ($echo) = WSClient->open_ws('/echo', timeout => 10);

    my $before = children_rss();
    # 1000 empty masked frames per write.
    my $batch = join '', map { $f[0]->frame(opcode => $opcode, payload => '') } 1 .. 1000;
    my %by_fd = map { fileno($_->sock) => $_ } @f;
    my $wsel = IO::Select->new(map { $_->sock } @f);
    my %off = map { $_ => 0 } keys %by_fd;
    my ($written, $max_growth, $echo_ok, $echo_n, $echo_worst) = (0, 0, 1, 0, 0);
    my $t0 = time;
    my $next_sample = $t0;
    my $next_echo = $t0 + 0.5;
    my $growth = sub {
        my $now = children_rss();
        my $g = 0;
        $g += $now->{$_} - $before->{$_} for grep { exists $now->{$_} } keys %$before;
        $max_growth = $g if $g > $max_growth;
    };
    while (time - $t0 < $FLOOD) {
        for my $s ($wsel->can_write(0.05)) {
            my $fd = fileno $s;
            my $n = syswrite($s, $batch, length($batch) - $off{$fd}, $off{$fd});
            if (defined $n) { $written += $n; $off{$fd} = ($off{$fd} + $n) % length $batch }
            elsif (!($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR)) { $wsel->remove($s) }
        }
        if (time >= $next_sample) { $growth->(); $next_sample = time + 0.25 }
        if ($echo && time >= $next_echo) {
            my $e0 = time;
            $echo->send_text("still there $echo_n");
            my $m = $echo->read_message(2);
            my $dt = time - $e0;
            $echo_worst = $dt if $dt > $echo_worst;
            $echo_ok = 0 unless $m && $m->{payload} eq "still there $echo_n";
            $echo_n++;
            $next_echo = time + 0.5;
        }
    }
    $growth->();
    my $b_sum = 0;
    $b_sum += $_ for values %$before;
    diag(sprintf '%s: %d clients wrote %.1f MiB of %s (%.0f frames) in %.1f s; children RSS '
         . '%.1f MiB before, largest growth %.1f MiB, allowed %.1f MiB = %d x (%d + %d) x 4 + 16 MiB',
         $name, $N, $written / $MiB, $what, $written / 6, time - $t0, $b_sum / $MiB,
         $max_growth / $MiB, $ALLOWED / $MiB, $N, $BOUND, $PONG);
    SKIP: {
        skip 'RSS bound: meaningless under ASan (freed memory sits in its quarantine)', 1
            if $ENV{WS_ASAN_DIR};
        skip 'RSS bound: meaningless under valgrind (its shadow memory and translations '
             . 'are in the RSS)', 1 if WSTestEnv::valgrind();
        cmp_ok($max_growth, '<=', $ALLOWED,
               sprintf('%s: server RSS grew by at most N x (bound + one pong) x 4 + 16 MiB '
                       . '(%.1f MiB)', $name, $ALLOWED / $MiB));
    }
    ok($echo && $echo_ok && $echo_n >= 3,
       sprintf('%s: an /echo client got each of its %d echoes within 2 s meanwhile (worst %.2f s)',
               $name, $echo_n, $echo_worst));
    cmp_ok($written, '>', $N * ($BOUND + 16384 * 2),
           sprintf('%s: ... the flood was real: more than the bound and the socket buffers went in '
                   . '(%.1f MiB)', $name, $written / $MiB));

    # Everything closes: the flooders reset, the echo client closes cleanly.
    $_->abort for @f;
    if ($echo) { $echo->close(1000); $echo->read_close(5); $echo->disconnect }
    my $open;
    Hostile::poll_until(10, sub { $open = $srv->ws_open; defined $open && $open <= $base_open });
    ok(defined $open && $open <= $base_open,
       "$name: within 10 s WebSocketsOpen back to $base_open (now " . ($open // 'unknown') . ')');
}
# And no fd left in the children (WebSocketsOpen was checked above).
my @over;
Hostile::poll_until(10, sub { @over = $srv->fds_over($first); !@over });
ok(!@over, 'every child\'s open fds back to the baseline') or diag(join ', ', @over);
