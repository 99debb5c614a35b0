# A handler with no thread of its own (t/handlers/v2_handler.c at
# /v2stress: ws_set_timer every 50 ms, broadcast through ws_defer): 500
# connections, 40 % of them leaving at random moments (close handshake or
# vanishing), one connection broadcasting every 20 ms.  Every connection's
# ticks are 1, 2, 3 ... with no gap or repeat, every broadcast arrives in
# order, once, at every connection that was open for it (under mpm_event,
# where the location's connections share one child; under prefork each
# child is an instance of its own, so only order is checked).  Then the
# server still echoes.  Client:
# t/clients/timer_broadcast.py (Debian's python3-websockets).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use InteropClient;
use WSClient;

my $MPM = InteropClient::loaded_mpm();
my $prefork = $MPM eq 'prefork';
my $CLIENTS = $prefork ? 60 : 500;     # prefork: a process per WebSocket
my @checks = ('all_opened', 'ticks_in_order', 'ticks_flowing', 'bcast_in_order',
              $prefork ? () : 'bcast_complete');

plan tests => scalar(@checks) + 2;

my $seed = $ENV{WS_HOSTILE_SEED} || int(time);
my $run = InteropClient::run(
    name    => "timer_broadcast ($MPM, $CLIENTS clients)",
    timeout => 60,
    cmd     => [InteropClient::PYTHON, InteropClient::client('timer_broadcast.py'),
                '--host', InteropClient::host(), '--port', InteropClient::port(),
                '--clients', $CLIENTS, '--duration', 6, '--seed', $seed,
                '--broadcasts', $prefork ? 0 : 1],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
diag("seed $seed");

my $ws = WSClient->open_ws('/echo');
$ws->send_text('still here');
my $m = $ws->read_message(5);
is($m && $m->{payload}, 'still here', 'the server still echoes');
$ws->close(1000);
