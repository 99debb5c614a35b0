# Clients that vanish: half a frame then a FIN or a RST, a half-sent
# handshake, a fragmented message never finished.  The server must survive
# all of them and keep serving new clients (under prefork too, where each
# connection that the server failed to notice would pin a process).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes OP_CONT OP_TEXT OP_BINARY);

my $ROUNDS = 50;
my $BATCH  = 10;

plan tests => 2 + $ROUNDS / $BATCH + 3 + 2 + 4;

sub echo_ok {
    my ($name) = @_;
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    if ($res->{status} != 101) {
        fail($name);
        diag("handshake: status $res->{status}" . ($res->{error} ? " ($res->{error})" : ''));
        return;
    }
    my $text = "alive " . int(rand(1e9));
    $ws->send_text($text);
    my $m = $ws->read_message(10);
    ok($m && $m->{payload} eq $text, $name) or diag('got ' . WSClient::describe($m));
    $ws->close(1000);
    $ws->read_close(10);
    $ws->wait_eof(10);
}

# The ways to vanish, taken in turn.
my @VANISH = (
    # half a frame header then FIN
    sub { my $ws = shift; $ws->send_raw("\x81"); $ws->disconnect },
    # header announcing 100 bytes, 10 sent, FIN
    sub { my $ws = shift;
          my $f = $ws->frame(opcode => OP_BINARY, payload => random_bytes(100));
          $ws->send_raw(substr($f, 0, 2 + 4 + 10)); $ws->disconnect },
    # same, with a RST
    sub { my $ws = shift;
          my $f = $ws->frame(opcode => OP_BINARY, payload => random_bytes(100));
          $ws->send_raw(substr($f, 0, 2 + 4 + 10)); $ws->abort },
    # first fragment of a message, never continued, FIN
    sub { my $ws = shift;
          $ws->send_frame(opcode => OP_TEXT, fin => 0, payload => 'part one');
          $ws->disconnect },
    # a 64-bit length header (70000 bytes) and part of the mask key, RST
    sub { my $ws = shift;
          my $f = $ws->frame(opcode => OP_BINARY, payload => random_bytes(70000));
          $ws->send_raw(substr($f, 0, 12)); $ws->abort },
    # a complete message whose echo is never read, then RST
    sub { my $ws = shift;
          $ws->send_binary(random_bytes(200000)); $ws->abort },
);

my $upgraded = 0;
my @failed_handshakes;
for my $round (1 .. $ROUNDS) {
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    if ($res->{status} == 101) { $upgraded++ }
    else { push @failed_handshakes, "round $round: $res->{status}" . ($res->{error} ? " ($res->{error})" : '') }
    $VANISH[$round % @VANISH]->($ws);
    if ($round % $BATCH == 0) {
        echo_ok("after $round vanished clients a new client echoes");
    }
}
is($upgraded, $ROUNDS, "all $ROUNDS vanishing clients were upgraded first")
    or diag(join "\n", @failed_handshakes);

# Handshakes cut short: half a request line, half the headers.
for my $part ("GET /echo HT", "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n") {
    my $ws = WSClient->new(port => WSClient::server_port());
    $ws->send_raw($part);
    $ws->disconnect;
}
echo_ok('after half-sent handshakes a new client echoes');

# Twenty at once: open, upgrade, send half a frame, all disappear together.
{
    my @conns;
    my $ok = 0;
    for (1 .. 20) {
        my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
        $ok++ if $res->{status} == 101;
        $ws->send_raw("\x82\xFE\x01");       # binary, masked, 16-bit length, 1 of 2 bytes
        push @conns, $ws;
    }
    is($ok, 20, '20 concurrent connections upgraded');
    $_->disconnect for @conns;
    @conns = ();
    echo_ok('after 20 simultaneous vanishings a new client echoes');
}

# Idle connections that just go away (no bytes after the handshake).
{
    my @conns = map { scalar WSClient->open_ws('/echo', timeout => 10) } 1 .. 5;
    $_->abort for @conns;
    echo_ok('after 5 idle connections reset, a new client echoes');
}

# The test handler survives too.
{
    my ($ws, $res) = WSClient->open_ws('/test', timeout => 10);
    $ws->send_text('push 3');
    my @got = map { my $m = $ws->read_message(10); $m ? $m->{payload} : 'none' } 1 .. 3;
    is_deeply(\@got, ['push 1', 'push 2', 'push 3'], '/test still serves (push 3)');
    $ws->send_text('binary 300');
    my $m = $ws->read_message(10);
    ok($m && $m->{opcode} == OP_BINARY
          && $m->{payload} eq join('', map { chr($_ & 0xff) } 0 .. 299),
       '/test "binary 300": bytes 0..255,0..43')
        or diag('got ' . WSClient::describe($m));
}

# Vanishing while the server is busy with the connection.
{
    # ... while it writes 16 MiB to us
    my ($ws) = WSClient->open_ws('/test', timeout => 10);
    $ws->send_text('binary 16777216');
    $ws->read_bytes(1000, time + 10);            # the transfer has started
    $ws->abort;
    # ... while its close handshake waits for our answer
    ($ws) = WSClient->open_ws('/test', timeout => 10);
    $ws->send_text('close 4001 bye');
    $ws->read_frame(10);
    $ws->abort;
    # ... while a handler thread sends
    ($ws) = WSClient->open_ws('/test', timeout => 10);
    $ws->send_text('thread 100000');
    $ws->read_message(10);
    $ws->abort;
    # ... in the middle of a 1 MiB message, with a FIN
    ($ws) = WSClient->open_ws('/echo', timeout => 10);
    my $f = $ws->frame(opcode => OP_BINARY, payload => random_bytes(1024 * 1024));
    $ws->send_raw(substr($f, 0, 600 * 1024));
    $ws->disconnect;
    echo_ok('after clients vanished mid-transfer, mid-close and mid-thread a new client echoes');
}
{
    # The same with FIN instead of RST, many times over, then check.
    for my $i (1 .. 10) {
        my ($ws) = WSClient->open_ws('/test', timeout => 10);
        $ws->send_text($i % 2 ? 'binary 4194304' : 'thread 100000');
        $ws->read_bytes(100, time + 10);
        $ws->disconnect;
    }
    echo_ok('after 10 more such clients a new client echoes');
}
{
    # The server must notice a vanished peer even while it has output
    # queued: under prefork each stuck connection would pin a process.
    # Open and drop 30 more busy clients, then 5 concurrent healthy ones.
    for my $i (1 .. 30) {
        my ($ws) = WSClient->open_ws('/test', timeout => 10);
        $ws->send_text('binary 2097152');
        $ws->read_bytes(100, time + 10);
        $ws->abort;
    }
    my @ok = grep { $_ } map {
        my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
        $res->{status} == 101 ? $ws : undef
    } 1 .. 5;
    is(scalar @ok, 5, '5 concurrent clients upgraded after 30 busy clients reset');
    my $good = 0;
    for my $w (@ok) {
        $w->send_text('x');
        my $m = $w->read_message(10);
        $good++ if $m && $m->{payload} eq 'x';
    }
    is($good, 5, '... and all 5 echo');
}
