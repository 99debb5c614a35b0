# Hostile frames: lengths that announce much and deliver nothing, and
# messages of a million fragments.  Against the suite's server, both MPMs.
#
# 3a. A frame header announcing 2^62 bytes (top bit clear, so a legal
#     length), then silence, on 20 /echo WebSockets: each is answered close
#     1009 at once (within 2 s, the header alone is enough) and the server
#     ends TCP; nothing was buffered (memory bound below).
# 3b. A binary frame announcing 16 MiB - 1 (under the default
#     WebSocketMaxMessageSize, so accepted), 1,000 bytes of it, then
#     silence, on 20 WebSockets to /ka/idle (WebSocketIdleTimeout 2): held
#     (no answer within 1 s), then close 1001 "idle timeout" within 6 s of
#     the last byte; the client stays silent too, and the server still ends
#     TCP (its 5 s closing-handshake timeout).  The reader grows its buffer
#     with what arrives, not with what is announced: 20 x 16 MiB would be
#     320 MiB, the children may grow by 16 MiB at most.
# 4a. A million one-byte fragments of one message to /echo: the default
#     WebSocketMaxFragments 4096 closes it with 1008 and the server ends TCP.
# 4b. With `WebSocketMaxFragments 0` (/hostile/fragments, with
#     WebSocketMaxMessageSize 1000000) nothing counts the frames: a message
#     of exactly 1,000,000 one-byte fragments is accepted and echoed whole
#     (one message of 1,000,000 bytes), and one of 1,000,001 fragments is
#     closed with 1009 as the frame that passes the size arrives.  The size
#     limit alone bounds memory; the frames cost CPU only (diag: seconds).
# Then the shared checks (t/lib/Hostile.pm): server up, an /echo prober
# answered throughout, memory, WebSocketsOpen and fds back to the baseline.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use Hostile;
use WSClient qw(OP_CONT OP_TEXT OP_BINARY OP_CLOSE);

my $MiB = Hostile::MiB;
my $N = 20;
plan tests => 3 + 4 + 3 + 3 + 5;

my $s = Hostile->suite;
my $bl = $s->baseline;
my $p = $s->prober;

sub open_at {
    my ($path) = @_;
    my $ws = WSClient->new(port => $s->port, tls => 0, timeout => 10);
    my $res = $ws->handshake(path => $path);
    die "handshake on $path: $res->{status}\n" unless $res->{status} == 101;
    return $ws;
}

# Waits for the close frame of each (ticking the prober): { code => count }.
sub closes_of {
    my ($limit, @ws) = @_;
    my (%codes, @eof);
    for my $ws (@ws) {
        my $f = $ws->read_close($limit);
        $codes{ $f ? $f->{code} // 'none' : 'nothing' }++;
        $ws->{close_reason} = $f ? $f->{reason} : undef;
        $ws->{close_at} = time;
        $p->tick;
        $s->sample($bl);
    }
    push @eof, $_->wait_eof(8) ? 1 : 0 for @ws;
    return (\%codes, scalar grep { $_ } @eof);
}
sub codes { my $c = shift; join ', ', map { "$_ x $c->{$_}" } sort keys %$c }

# --- 3a. 2^62 bytes announced ---------------------------------------------------
{
    my @ws = map { open_at('/echo') } 1 .. $N;
    my $t0 = time;
    $_->send_raw($_->frame(opcode => OP_BINARY, length => 2**62)) for @ws;
    my ($codes, $eof) = closes_of(2, @ws);
    my $dt = time - $t0;
    is_deeply($codes, { 1009 => $N }, sprintf('%d headers announcing 2^62 bytes: close 1009 '
                                              . 'each (%.2f s for all)', $N, $dt))
        or diag(codes($codes));
    cmp_ok($dt, '<', 2 + 0.5 * $N, '... at once: nothing waited for a payload');
    is($eof, $N, '... and the server ended TCP');
}

# --- 3b. 16 MiB - 1 announced, 1,000 bytes sent, silence ------------------------
{
    my @ws = map { open_at('/ka/idle') } 1 .. $N;
    for my $ws (@ws) {
        my $f = $ws->frame(opcode => OP_BINARY, length => 16 * $MiB - 1,
                           payload => 'y' x 1000, mask_key => 'abcd');
        $ws->send_raw($f);
    }
    my $t0 = time;
    my $early = 0;
    # Not stretched by WS_TEST_TIME_FACTOR: WebSocketIdleTimeout is not.
    for my $ws (@ws) { $early++ if $ws->poll_frame(1 / $N) }
    sleep 1 - (time - $t0) if time - $t0 < 1;
    $s->sample($bl);
    is($early, 0, "$N WebSockets announcing 16 MiB - 1 with 1,000 bytes sent: held (nothing "
                  . 'within 1 s)');
    my ($codes, $eof) = closes_of(6, @ws);
    my $dt = (sort { $b <=> $a } map { ($_->{close_at} // time) - $t0 } @ws)[0];
    is_deeply($codes, { 1001 => $N }, sprintf('... then close 1001 from WebSocketIdleTimeout 2 '
                                              . '(the last %.1f s after the last byte)', $dt))
        or diag(codes($codes));
    is(scalar(grep { ($_->{close_reason} // '') eq 'idle timeout' } @ws), $N,
       '... reason "idle timeout"');
    is($eof, $N, '... and though the clients never answered the close, the server ended TCP');
}

# One message of $n one-byte fragments (frames of 7 bytes, one mask key).
sub fragments {
    my ($n, $key) = @_;
    my $x = chr(ord('x') ^ ord(substr($key, 0, 1)));
    my $mid = "\x00\x81$key$x";
    return "\x02\x81$key$x" . ($mid x ($n - 2)) . "\x80\x81$key$x";
}

# --- 4a. a million fragments against the default limit --------------------------
{
    my $ws = open_at('/echo');
    my $t0 = time;
    my $r = $ws->exchange(fragments(1_000_000, 'kkkk'), 1, 30);
    my $c = $r->{close} // $ws->read_close(5);
    is($c && $c->{code}, 1008, sprintf('a million one-byte fragments to /echo: close 1008 (%.1f s, '
                                       . '%.1f MiB written)', time - $t0, $r->{written} / $MiB));
    ok(!@{ $r->{messages} }, '... no message was delivered');
    ok($ws->wait_eof(8), '... and the server ended TCP');
    $p->tick; $s->sample($bl);
}

# --- 4b. no fragment limit: the size limit decides -------------------------------
{
    my $ws = open_at('/hostile/fragments');
    my $t0 = time;
    my $r = $ws->exchange(fragments(1_000_000, 'kkkk'), 1, 60, 20);
    my $m = $r->{messages}[0];
    ok($m && $m->{opcode} == OP_BINARY && $m->{payload} eq 'x' x 1_000_000,
       sprintf('WebSocketMaxFragments 0: a message of 1,000,000 one-byte fragments is echoed '
               . 'whole (%.1f s)', time - $t0))
        or diag('got ' . ($m ? length($m->{payload}) . ' bytes' : 'no message')
                . ($r->{close} ? ', close ' . ($r->{close}{code} // 'none') : ''));
    $s->sample($bl);
    $p->tick;
    $t0 = time;
    $r = $ws->exchange(fragments(1_000_001, 'qqqq'), 1, 60, 20);
    my $c = $r->{close} // $ws->read_close(5);
    is($c && $c->{code}, 1009, sprintf('... one of 1,000,001 fragments: close 1009 '
                                       . '(WebSocketMaxMessageSize 1000000; %.1f s)', time - $t0));
    ok($ws->wait_eof(8), '... and the server ended TCP');
}

$s->assert_all($bl, $p, max_growth => 16 * $MiB,
               what => 'announced lengths and a million fragments');
