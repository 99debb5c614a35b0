# Idle survival: with `Timeout 3` and mod_reqtimeout loaded, an upgraded
# connection that stays silent for 7 s (twice Timeout plus margin, no pings)
# must not be closed by the server, and must still echo afterwards; both right
# after the handshake and after some traffic.  A third connection, at the
# same time, stays silent for 25 s: longer than mod_reqtimeout's body limit
# (RequestReadTimeout body=20), whose filter must not apply after the 101.
# Runs under every MPM.
# Client: t/clients/idle_survival.py.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my @checks = qw(idle_fresh_survives idle_after_echo_survives idle_beyond_reqtimeout_survives);
plan tests => @checks + 1;

my $run = InteropClient::run(
    name    => 'idle',
    timeout => 60,
    cmd     => [InteropClient::PYTHON, InteropClient::client('idle_survival.py'),
                '--host', InteropClient::host(), '--port', InteropClient::port(),
                '--idle', 7, '--long-idle', 25],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
