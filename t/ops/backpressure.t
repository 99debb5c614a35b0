# Backpressure at scale: many connections whose clients stop reading while
# the server pushes at them must cost the server at most
# WebSocketMaxPendingOutput + one message each, lose nothing, and not stop
# the server from serving others.
#
# /bp (t/conf/extra.conf.in) runs the test handler with
# WebSocketMaxPendingOutput 65536.  Each of $N WebSockets sends
# "flood 65536 400": the handler sends 64 KiB binary messages (sequence
# number in the first 8 bytes) until ws_send() answers WS_EFULL and goes on
# from on_drain, 400 messages (25 MiB) per connection.  The clients then do
# not read (bounded: until the server's byte counter stops moving, at most
# 8 s), with small receive buffers (SO_RCVBUF 64 KiB) so that the kernel
# soaks up little.  Meanwhile:
#   - the RSS of the server's children (by PPid from the parent in
#     t/logs/httpd.pid) may grow by at most
#     N x (64 KiB bound + one 64 KiB message) x 1.5 + 32 MiB;
#     the "before" figure is taken once the N connections are open and have
#     each echoed a message, so under prefork the processes that hold them
#     already exist, and both figures sum the children alive at both moments
#     (idle spare processes that prefork forks or reaps meanwhile hold none
#     of the connections);
#   - a new /echo client is served.
# Then all clients read everything: each must get all 400 messages, intact
# and in sequence order; then "maxbuffered" (the largest
# ws_buffered_amount() the handler saw after a successful send) must be at
# most 65536 + 65536 + 10 (the frame header of a 64 KiB message), and
# "floodstats" must show that WS_EFULL was really met.
#
# mpm_event: 200 connections (one child).  mpm_prefork: 100, since each
# WebSocket holds a process and the suite's MaxRequestWorkers is 150 (the
# status requests and the /echo client need processes too).  The
# assertions are the same.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib $FindBin::Bin . '/../interop';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use WSClient qw(random_key accept_key OP_TEXT OP_BINARY OP_CLOSE OP_PING);
use InteropClient ();
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in);
use Errno qw(EAGAIN EWOULDBLOCK EINTR ECONNRESET EINPROGRESS);
use Time::HiRes qw(time);
use WSTestEnv ();

my $MPM      = InteropClient::loaded_mpm();
my $N        = $MPM eq 'prefork' ? 100 : 200;
my $SIZE     = 65536;
my $COUNT    = 400;
my $BOUND    = 65536;                      # WebSocketMaxPendingOutput of /bp
my $HDR      = 10;                         # header of a 64 KiB server frame
my $MiB      = 1024 * 1024;
my $ALLOWED  = int($N * ($BOUND + $SIZE + $HDR) * 1.5 + 32 * $MiB);
my $MAXBUF   = $BOUND + $SIZE + $HDR;

my $pid_file = Apache::Test::vars('t_logs') . '/httpd.pid';

plan tests => 2 + 3 + 5 + 1,
    sub { -r $pid_file ? 1 : 'no httpd.pid (stand-in server?)' };

my $parent = do { open my $fh, '<', $pid_file or die "$pid_file: $!"; local $/; <$fh> };
chomp $parent;

# VmRSS (bytes) and Threads of each of the server's children.
sub children_usage {
    my %u;
    opendir my $d, '/proc' or die "/proc: $!";
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/status" or next;
        my %f;
        while (<$st>) { $f{$1} = $2 if /^(PPid|VmRSS|Threads):\s+(\d+)/ }
        # A one-process server (make test-valgrind) is its own "child".
        next unless ($f{PPid} // -1) == $parent
                    || (WSTestEnv::one_process() && $pid == $parent);
        $u{$pid} = { rss => ($f{VmRSS} // 0) * 1024, threads => $f{Threads} // 0 };
    }
    return \%u;
}

# Totals over the children in @$pids (all of them without a list).
sub usage_sum {
    my ($u, $pids) = @_;
    my %s = (rss => 0, threads => 0, procs => 0);
    for my $pid ($pids ? @$pids : keys %$u) {
        next unless $u->{$pid};
        $s{rss} += $u->{$pid}{rss};
        $s{threads} += $u->{$pid}{threads};
        $s{procs}++;
    }
    return \%s;
}

# The server's WebSocketBytesOut, summed over the children that hold open
# WebSockets (under prefork idle children come and go).
sub bytes_out {
    my $res = GET('/server-status?auto');
    return undef unless $res->is_success;
    my (%c, $sum);
    for (split /\n/, $res->content) {
        $c{$1}{$2} = $3 if /^Child(\d+)(WebSocket\w+): (\d+)$/;
    }
    for my $pid (keys %c) {
        $sum += $c{$pid}{WebSocketBytesOut} if $c{$pid}{WebSocketsOpen};
    }
    return $sum // 0;
}

# A WSClient on a socket with a small receive buffer (set before connect, so
# the window is small from the start).
sub small_client {
    my $port = WSClient::server_port();
    return WSClient->new(port => $port, timeout => 30, rcvbuf => 65536);
}

# --- open N WebSockets (all handshakes in flight at once) ---------------
my @c;
for my $i (1 .. $N) {
    my $ws = small_client();
    my $key = random_key();
    $ws->send_raw("GET /bp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\n"
                  . "Sec-WebSocket-Version: 13\r\n\r\n");
    push @c, { i => $i, ws => $ws, key => $key, got => 0, bad => [] };
}
my $opened = 0;
for my $c (@c) {
    my $res = $c->{ws}->read_response(timeout => 30);
    $opened++ if $res->{status} == 101
        && ($res->{headers}{'sec-websocket-accept'} // '') eq accept_key($c->{key});
}
is($opened, $N, "$N WebSockets to /bp opened ($MPM)");
my $echoed = 0;
$_->{ws}->send_text("hello $_->{i}") for @c;
for my $c (@c) {
    my $m = $c->{ws}->read_message(30);
    $echoed++ if $m && $m->{opcode} == OP_TEXT && $m->{payload} eq "hello $c->{i}";
}
is($echoed, $N, '... and each echoed a message');

# --- flood, clients not reading ------------------------------------------
my $before = children_usage();
my $t0 = time;
$_->{ws}->send_text("flood $SIZE $COUNT") for @c;

# Until the server's byte counter stops moving for 1 s (every connection is
# stalled on a client that does not read), at most 8 s.
my ($last, $stable_since, $stalled) = (-1, time, 0);
while (time - $t0 < 8) {
    my $b = bytes_out();
    if (defined $b && $b == $last) {
        if (time - $stable_since >= 1) { $stalled = 1; last }
    }
    else { ($last, $stable_since) = ($b // -1, time) }
    select(undef, undef, undef, 0.2);
}
my $after = children_usage();
# The children alive at both moments: every connection is held by one of
# them (each echoed before "before").  Under prefork the parent meanwhile
# forks idle spare processes (MinSpareServers) whose RSS is not buffering.
my @both = grep { $after->{$_} } keys %$before;
my ($b_all, $a_all) = (usage_sum($before), usage_sum($after));
my ($b_both, $a_both) = (usage_sum($before, \@both), usage_sum($after, \@both));
my $growth = $a_both->{rss} - $b_both->{rss};
diag(sprintf 'children RSS %.1f MiB before the flood (%d processes, %d threads), %.1f MiB '
     . 'with every client stalled %.1f s later (%d processes, %d threads); in the %d children '
     . 'alive at both moments %.1f -> %.1f MiB: growth %.1f MiB, allowed %.1f MiB = '
     . '%d x (%d + %d + %d) x 1.5 + 32 MiB; server wrote %.1f MiB meanwhile%s',
     $b_all->{rss} / $MiB, $b_all->{procs}, $b_all->{threads}, $a_all->{rss} / $MiB,
     time - $t0, $a_all->{procs}, $a_all->{threads}, scalar @both, $b_both->{rss} / $MiB,
     $a_both->{rss} / $MiB, $growth / $MiB, $ALLOWED / $MiB,
     $N, $BOUND, $SIZE, $HDR, $last / $MiB, $stalled ? '' : ' (still moving after 8 s)');
# ASan's allocator keeps freed memory in quarantine (256 MiB by default):
# under SANITIZE=1 RSS says nothing about the module's bound.
SKIP: {
skip 'RSS bound: meaningless under ASan (freed memory sits in its quarantine)', 1
    if $ENV{WS_ASAN_DIR};
skip 'RSS bound: meaningless under valgrind (its shadow memory is in the RSS)', 1
    if WSTestEnv::valgrind();
cmp_ok($growth, '<=', $ALLOWED,
       sprintf('server RSS grew by at most N x (bound + one message) x 1.5 + 32 MiB (%.1f MiB)',
               $ALLOWED / $MiB));
}

# A new client is served meanwhile.
{
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    my $ok = $res->{status} == 101;
    if ($ok) {
        $ws->send_text('while they flood');
        my $m = $ws->read_message(10);
        $ok = $m && $m->{payload} eq 'while they flood';
        $ws->close(1000);
        $ws->read_close(5);
    }
    ok($ok, 'a new /echo client is served while the floods are stalled');
}
{
    # Nothing was read yet, so no connection can have got more than the
    # kernel's buffers plus the queue bound: the flood must not be done.
    my $per_conn = $last / $N;
    cmp_ok($per_conn, '<', $COUNT * ($SIZE + $HDR),
           sprintf('... the floods were really stalled (%.1f MiB written per connection, of %.1f)',
                   $per_conn / $MiB, $COUNT * ($SIZE + $HDR) / $MiB));
}

# --- now everyone reads everything ----------------------------------------
my $template = join '', map { chr($_ & 0xff) } 0 .. $SIZE - 1;
my $tail = substr($template, 8);
my %by_fd = map { fileno($_->{ws}->sock) => $_ } @c;
my $sel = IO::Select->new(map { $_->{ws}->sock } @c);
my $t1 = time;
my $deadline = $t1 + 180;
my $pending = @c;
for my $c (@c) { $c->{buf} = ''; $c->{pos} = 0 }

# Parses whole frames from $c->{buf} at $c->{pos} (no copying of the rest).
sub parse_frames {
    my ($c) = @_;
    my $buf = \$c->{buf};
    while (1) {
        my $avail = length($$buf) - $c->{pos};
        last if $avail < 2;
        my ($b0, $b1) = unpack('CC', substr($$buf, $c->{pos}, 2));
        my $len = $b1 & 0x7f;
        my $h = 2;
        if ($len == 126) { last if $avail < 4; $len = unpack('n', substr($$buf, $c->{pos} + 2, 2)); $h = 4 }
        elsif ($len == 127) {
            last if $avail < 10;
            my ($hi, $lo) = unpack('NN', substr($$buf, $c->{pos} + 2, 8));
            $len = $hi * 4294967296 + $lo;
            $h = 10;
        }
        last if $avail < $h + $len;
        my $op = $b0 & 0x0f;
        my $p0 = $c->{pos} + $h;
        $c->{pos} += $h + $len;
        if ($b1 & 0x80) { push @{ $c->{bad} }, 'masked server frame'; next }
        if ($op == OP_BINARY) {
            my $n = $c->{got} + 1;
            if (!($b0 & 0x80) || $len != $SIZE
                || substr($$buf, $p0, 8) ne pack('NN', 0, $n)
                || substr($$buf, $p0 + 8, $SIZE - 8) ne $tail) {
                my ($hi, $lo) = $len >= 8 ? unpack('NN', substr($$buf, $p0, 8)) : (0, -1);
                push @{ $c->{bad} }, "message $n: len $len, seq " . ($hi * 4294967296 + $lo)
                    if @{ $c->{bad} } < 3;
            }
            $c->{got}++;
            if ($c->{got} == $COUNT) {
                $c->{ws}->send_text('maxbuffered');
                $c->{ws}->send_text('floodstats');
            }
        }
        elsif ($op == OP_TEXT) { push @{ $c->{texts} }, substr($$buf, $p0, $len) }
        elsif ($op == OP_PING) { $c->{ws}->pong(substr($$buf, $p0, $len)) }
        else { push @{ $c->{bad} }, "opcode $op"; $c->{closed} = 1 }
    }
    if ($c->{pos} > (1 << 20)) {
        substr($$buf, 0, $c->{pos}, '');
        $c->{pos} = 0;
    }
}

while ($pending && time < $deadline) {
    for my $s ($sel->can_read($deadline - time)) {
        my $c = $by_fd{ fileno $s };
        my $n = sysread($s, $c->{buf}, 256 * 1024, length $c->{buf});
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $c->{eof} = "$!";
        }
        elsif ($n == 0) { $c->{eof} = 'eof' }
        parse_frames($c);
        if ($c->{eof} || $c->{closed} || @{ $c->{texts} || [] } >= 2) {
            $sel->remove($s);
            $pending--;
        }
    }
}
my $t_read = time - $t1;

my @short = grep { $_->{got} != $COUNT } @c;
ok(!@short, sprintf 'all %d clients received all %d messages (%.1f GiB in %.1f s)',
   $N, $COUNT, $N * $COUNT * $SIZE / 1024 / $MiB, $t_read)
    or diag(join "\n", map { "client $_->{i}: $_->{got}" . ($_->{eof} ? " ($_->{eof})" : '') }
                       @short[0 .. ($#short > 9 ? 9 : $#short)]);
my @bad = grep { @{ $_->{bad} } } @c;
ok(!@bad, '... intact and in sequence order (none lost, none repeated)')
    or diag(join "\n", map { "client $_->{i}: @{ $_->{bad} }" } @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

my (@maxbuf, @stats, @noreply);
for my $c (@c) {
    my ($mb, $fs) = @{ $c->{texts} || [] };
    if (!defined $fs || $mb !~ /^\d+$/) { push @noreply, $c; next }
    push @maxbuf, $mb;
    push @stats, $fs;
}
ok(!@noreply, '"maxbuffered" and "floodstats" answered on every connection')
    or diag(scalar(@noreply) . ' without answers');
my @over = grep { $_ > $MAXBUF } @maxbuf;
my ($max) = sort { $b <=> $a } @maxbuf;
ok(@maxbuf && !@over, "maxbuffered <= $BOUND + $SIZE + $HDR on every connection (largest: "
                      . ($max // 'none') . ')')
    or diag(scalar(@over) . " connections over $MAXBUF: @over[0 .. ($#over > 9 ? 9 : $#over)]");
my @noefull = grep { !/\bsent=$COUNT efull=[1-9]/ } @stats;
ok(@stats && !@noefull, "floodstats: $COUNT sent after meeting WS_EFULL on every connection")
    or diag("e.g. $noefull[0]");
diag("e.g. $stats[0]") if @stats;

# --- close everything ----------------------------------------------------
$_->{ws}->close(1000) for @c;
my $closed = 0;
for my $c (@c) {
    $c->{ws}{buf} = '';
    my $f = $c->{ws}->read_close(10);
    $closed++ if $f && ($f->{code} // 0) == 1000;
    $c->{ws}->disconnect;
}
is($closed, $N, 'all closed with 1000');
