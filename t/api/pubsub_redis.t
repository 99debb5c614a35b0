# Topics across children and machines (WebSocketPubSub): two private httpds
# joined by one private Redis, started and stopped here and by the client.
# A: mpm_event, 4 children (SO_REUSEPORT buckets spread connections over
# them), Redis over TCP; B: mpm_prefork (a child per WebSocket), Redis over
# its unix socket.  Every subscriber on both gets every publication in
# order; the excluded sender does not; Redis stopped: the links go down
# (logged), delivery within a child continues; Redis back: the links and
# subscriptions come back by themselves and B's subscribers get A's
# publications again.  Client: t/clients/pubsub_redis.py.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);
use InteropClient;
use PrivateHttpd;

my $top = Apache::Test::vars('top_dir');
plan skip_all => 'redis-server is not installed (scripts/deps.sh installs it)'
    unless -x '/usr/bin/redis-server';
plan skip_all => 'mpm_prefork is not installed'
    unless -r '/usr/lib/apache2/modules/mod_mpm_prefork.so';
# The private servers do not depend on the suite's MPM: run once.
plan skip_all => 'runs under the event pass of the suite only'
    if InteropClient::loaded_mpm() ne 'event';

my @checks = qw(links_up across_children exclude_across redis_down redis_back);
plan tests => @checks + 1;

my $rdir = tempdir('mod_websocket-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $rdir;
my $rport = PrivateHttpd::free_port();
my $handler = <<"CONF";
WebSocketHandlerLoad pubsub "$top/build/mod_websocket_test.so" pubsub_handler
<Location /pubsub>
    WebSocketHandler pubsub
</Location>
CONF

my $a = PrivateHttpd->new(top => $top, name => 'redis-a', mpm => 'event',
    children => 4, threads => 10, body => <<"CONF");
ListenCoresBucketsRatio 1
WebSocketPubSub redis://127.0.0.1:$rport/0 prefix=t:
$handler
CONF
my $b = PrivateHttpd->new(top => $top, name => 'redis-b', mpm => 'prefork',
    children => 4, body => <<"CONF");
WebSocketPubSub unix:$rdir/redis.sock?db=0 prefix=t:
$handler
CONF

END {
    # If the client died before stopping its redis-server.
    if (open my $fh, '<', "$rdir/redis.pid") {
        my ($pid) = (<$fh> // '') =~ /(\d+)/;
        kill 'KILL', $pid if $pid;
    }
}

my $run = InteropClient::run(
    name    => 'pubsub_redis',
    timeout => 240,
    cmd     => [InteropClient::PYTHON, InteropClient::client('pubsub_redis.py'),
                '--a-port', $a->port, '--b-port', $b->port,
                '--redis-port', $rport, '--redis-dir', $rdir,
                '--a-log', $a->error_log],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run)
    or diag("A's log:\n" . $a->log_tail(30) . "B's log:\n" . $b->log_tail(30));
