# Topics within one child (ws_subscribe, ws_publish, ws_publish_from,
# ws_subscribers; t/handlers/pubsub_handler.c): 1,000 subscribers each get
# every publication of two publishing threads once, in each publisher's
# order; the sender can be left out; unsubscribing and closing end
# delivery; a subscriber that never reads is dropped from (counted in
# mod_status) or closed with 1013 as WebSocketSlowSubscriber says, while a
# reading one gets everything and the child's memory stays bounded; shared
# permessage-deflate compresses a publication once for its subscribers.
# Client: t/clients/pubsub.py (Debian's python3-websockets).
# mpm_event only: without WebSocketPubSub topics do not cross children,
# and under prefork every WebSocket has a child of its own.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use InteropClient;

plan skip_all => 'topics are per child without WebSocketPubSub, and prefork '
               . 'runs each WebSocket in a child of its own (t/api/pubsub_redis.t)'
    if InteropClient::loaded_mpm() eq 'prefork';

my @checks = qw(fanout exclude_self close_unsubscribes slow_drop slow_close
                deflate_shared);
plan tests => @checks + 1;

my $run = InteropClient::run(
    name    => 'pubsub',
    timeout => 300,
    cmd     => [InteropClient::PYTHON, InteropClient::client('pubsub.py'),
                '--host', InteropClient::host(), '--port', InteropClient::port(),
                '--pidfile', Apache::Test::vars('t_logs') . '/httpd.pid'],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
