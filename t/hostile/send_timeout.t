# A client that stops reading must not hold its connection (and the queued
# output) forever: WebSocketSendTimeout <s> drops a connection whose output
# is queued and makes no write progress for <s> seconds (its log/on_close
# code 1008 "send timeout").  A reader that is slow but makes progress is
# not dropped.
#
# Regression test: a client that sent one 15 MiB message (echoed back) and
# never read stayed forever, even with WebSocketIdleTimeout 2 (the idle
# timeout's close frame waits behind the echo and is never flushed).
#
# /hostile/sendtimeout (t/conf/extra.conf.in): the echo handler,
# WebSocketMaxPendingOutput 65536, WebSocketSendTimeout 2,
# WebSocketIdleTimeout 2.
#   1. Stalled: SO_RCVBUF 16 KiB, sends a 15 MiB binary message and reads
#      nothing.  Within 8 s of the message being written the server side of
#      the connection must be gone: its socket (/proc/net/tcp{,6}, local
#      port = the test port, remote port = this client's) no longer
#      ESTABLISHED, and mod_status's WebSocketsOpen back to the baseline.
#      (2 s send timeout + 2 s idle timeout + the loop's timer granularity.)
#   2. Slow: SO_RCVBUF 16 KiB, sends 8 MiB (more than the server's socket
#      send buffer can take, at most tcp_wmem's 4 MiB here), then reads its
#      echo at most 160 KiB per 0.1 s (~1.5 MiB/s, 5-6 s in all: output stays
#      queued longer than the send timeout, with progress) and pings once a
#      second (so the idle timeout does not apply): it must get the whole
#      echo intact and still be open (a further message is echoed).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use WSClient qw(random_key accept_key random_bytes OP_TEXT OP_BINARY OP_PING OP_PONG OP_CLOSE);
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF inet_aton pack_sockaddr_in sockaddr_in);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Time::HiRes qw(time sleep);

my $PATH = '/hostile/sendtimeout';
my $PORT = WSClient::server_port();

plan tests => 2 + 3 + 4 + 2;

sub ws_open {
    my $res = GET('/server-status?auto');
    return undef unless $res->is_success;
    my ($n) = $res->content =~ /^WebSocketsOpen: (\d+)$/m;
    return $n;
}

# State (hex, as in /proc/net/tcp) of the server's end of the connection
# whose client end has local port $cport, or undef if there is none.
sub server_side_state {
    my ($cport) = @_;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my (undef, $local, $remote, $st) = split ' ';
            my ($lp) = $local =~ /:([0-9A-F]{4})$/ or next;
            my ($rp) = $remote =~ /:([0-9A-F]{4})$/ or next;
            return $st if hex($lp) == $PORT && hex($rp) == $cport;
        }
    }
    return undef;
}

sub small_client {
    my $ws = WSClient->new(port => $PORT, timeout => 10, rcvbuf => 16384);
    my $sock = $ws->sock;
    my $key = random_key();
    $ws->send_raw("GET $PATH HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\n"
                  . "Sec-WebSocket-Version: 13\r\n\r\n");
    my $res = $ws->read_response(timeout => 10);
    my $ok = $res->{status} == 101
        && ($res->{headers}{'sec-websocket-accept'} // '') eq accept_key($key);
    my ($cport) = sockaddr_in(getsockname($sock));
    return $ok ? ($ws, $cport) : ();
}

# Drops by WebSocketSendTimeout, counted (WebSocketLimitSendTimeout).
sub send_timeouts {
    my $res = GET('/server-status?auto');
    return undef unless $res->is_success;
    my ($n) = $res->content =~ /^WebSocketLimitSendTimeout: (\d+)$/m;
    return $n;
}

my $base_open = ws_open() // 0;
my $base_timeouts = send_timeouts() // 0;

# --- 1. the stalled reader ---------------------------------------------------
my ($st, $st_port) = small_client();
ok($st, "stalled client: WebSocket to $PATH opened");
my $big = 'x' x (15 * 1024 * 1024);
my $t0 = time;
my $sent = $st ? $st->send_raw($st->frame(opcode => OP_BINARY, payload => $big), 20) : 0;
my $t_sent = time;
ok($sent >= length($big), sprintf('stalled client: wrote a 15 MiB message in %.1f s (%d bytes)',
                                  $t_sent - $t0, $sent));

# Poll the server's side of that connection; the client reads nothing.
my ($state, $open);
my $deadline = $t_sent + 8;
while (1) {
    $state = server_side_state($st_port);
    last if !defined $state || $state ne '01' || time >= $deadline;
    sleep 0.2;
}
my $gone_after = time - $t_sent;
ok(!defined $state || $state ne '01',
   sprintf('... the server dropped it within 8 s (server socket %s after %.1f s)',
           defined $state ? ($state eq '01' ? 'still ESTABLISHED' : "state 0x$state") : 'gone',
           $gone_after));
$deadline = time + 5;
while (1) {
    $open = ws_open();
    last if (defined $open && $open <= $base_open) || time >= $deadline;
    sleep 0.2;
}
ok(defined $open && $open <= $base_open,
   "WebSocketsOpen back to $base_open (" . ($open // 'unknown') . ')');
$st->abort if $st;
is((send_timeouts() // 0) - $base_timeouts, 1, 'WebSocketLimitSendTimeout grew by exactly 1');

# --- 2. the slow reader that makes progress ---------------------------------
my ($sl, $sl_port) = small_client();
ok($sl, 'slow client: opened');
my $payload = random_bytes(8 * 1024 * 1024);
my ($got, $ok_slow, $closed, $t_slow) = ('', 0, '', 0);
if ($sl) {
    my $t1 = time;
    $sl->send_raw($sl->frame(opcode => OP_BINARY, payload => $payload), 10);
    my $sock = $sl->sock;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $next_ping = time + 1;
    my $limit = time + 20;
    my $want;                              # frame length once the header is in
    while (time < $limit) {
        if (time >= $next_ping) { $sl->ping('p'); $next_ping = time + 1 }
        # Up to 160 KiB this turn, in as many reads as the small buffer needs.
        my $turn = 0;
        my $tick_end = time + 0.05;
        while ($turn < 163840 && $sel->can_read($tick_end - time > 0 ? $tick_end - time : 0)) {
            my $n = sysread($sock, $buf, 163840 - $turn, length $buf);
            if (defined $n && $n == 0) { $closed = 'eof'; last }
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $closed = "$!"; last;
            }
            $turn += $n;
        }
        last if $closed;
        # Skip pongs and look for the binary frame (server frames: unmasked).
        while (length $buf >= 2) {
            my ($b0, $b1) = unpack 'CC', $buf;
            my $op = $b0 & 0x0f;
            my ($len, $h) = ($b1 & 0x7f, 2);
            if ($len == 126) { last if length $buf < 4; $len = unpack 'n', substr($buf, 2, 2); $h = 4 }
            elsif ($len == 127) {
                last if length $buf < 10;
                my ($hi, $lo) = unpack 'NN', substr($buf, 2, 8);
                ($len, $h) = ($hi * 4294967296 + $lo, 10);
            }
            last if length $buf < $h + $len;   # slow on purpose: wait for the rest
            my $p = substr($buf, $h, $len);
            substr($buf, 0, $h + $len, '');
            if ($op == OP_BINARY) { $got = $p; $want = 1 }
            elsif ($op == OP_CLOSE) { $closed = 'close frame ' . unpack('n', $p . "\0\0") }
        }
        last if $want || $closed;
        sleep 0.1;                         # the slow reader's pace: 160 KiB per 0.1 s
    }
    $t_slow = time - $t1;
    $ok_slow = $want && $got eq $payload;
}
ok($ok_slow, sprintf('slow client: got its 8 MiB echo intact in %.1f s', $t_slow))
    or diag('got ' . length($got) . ' bytes' . ($closed ? ", then $closed" : ''));
ok(!$closed, '... and was not dropped on the way') or diag("closed: $closed");
my $again = 0;
if ($sl && !$closed) {
    $sl->send_text('still open');
    my $m = $sl->read_message(5);
    $again = $m && $m->{opcode} == OP_TEXT && $m->{payload} eq 'still open';
}
ok($again, '... and still echoes');
if ($sl) { $sl->close(1000); $sl->read_close(5); $sl->disconnect }
$deadline = time + 10;
while (1) {
    $open = ws_open();
    last if (defined $open && $open <= $base_open) || time >= $deadline;
    sleep 0.2;
}
ok(defined $open && $open <= $base_open,
   "WebSocketsOpen back to $base_open (now " . ($open // 'unknown') . ')');
is((send_timeouts() // 0) - $base_timeouts, 1, '... and not for the slow reader');
