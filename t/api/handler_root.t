# WebSocketHandlerRoot (t/conf/extra.conf.in): build/t-handler-root/a/b.so
# serves /a/b.  What is checked: nested paths, both init conventions, 404
# for paths without a handler, 426 for a request that is not an upgrade,
# a WebSocketHandler location winning over the root, a settings-only
# <Location> applying to a root's path, the log line per handler, and that
# .htaccess cannot name a root (it would load code).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use File::Path qw(make_path remove_tree);
use WSClient qw(random_utf8);

plan tests => 25;

# Opens path, sends one text message, returns (status, reply or undef).
sub reply_of {
    my ($path, $text) = @_;
    my ($ws, $res) = WSClient->open_ws($path);
    return ($res->{status}, undef) unless $res->{status} == 101;
    $ws->send_text($text);
    my $m = $ws->read_message(5);
    $ws->close(1000);
    return (101, $m && $m->{payload});
}

# Nested paths, the ws_handler_init convention; each file its own instance.
for my $path ('/a/b', '/a/b/c', '/explicit/..//a/b') {
    my ($status, $reply) = reply_of($path, 'hello');
    (my $norm = $path) =~ s{^/explicit/\.\.//}{/};
    is($status, 101, "$path: 101 from the root's handler");
    is($reply, "root $norm: hello", "$path: answered by the instance for $norm");
}

# The fallback convention: fallback/echo.so exports echo(), not
# ws_handler_init (the shipped handlers work unchanged).
my ($status, $reply) = reply_of('/fallback/echo', 'ping me');
is($status, 101, '/fallback/echo: 101 (init function named after the file)');
is($reply, 'ping me', '... and it is the echo handler');

# Paths under no handler: 404, whatever the tree holds there, and even
# where the DocumentRoot has a file (which a plain GET would get).
for my $case (['/', 'the tutorial page, a directory index'],
              ['/index.html', 'a file of the DocumentRoot'],
              ['/nosuch', 'a path with no file'],
              ['/a', 'a directory of the root'],
              ['/notes', 'notes.txt, not a .so'],
              ['/.hidden', 'a hidden .so'],
              ['/a/b/', 'a handler path with a trailing slash']) {
    my (undef, $res) = WSClient->open_ws($case->[0]);
    is($res->{status}, 404, "$case->[0] ($case->[1]): 404");
}

# Not an upgrade: what a WebSocketHandler location answers.
my $get = GET('/a/b');
is($get->code, 426, 'GET /a/b without Upgrade: 426');
like($get->header('Upgrade') // '', qr/websocket/i, '... with Upgrade: websocket');

# <Location /explicit> with WebSocketHandler echo wins over explicit.so.
($status, $reply) = reply_of('/explicit', 'mine');
is($reply, 'mine', '/explicit: served by the location\'s echo, not the root');

# <Location /a/b> has settings and no handler: they apply to the root's
# /a/b (WebSocketProtocol, WebSocketMaxMessageSize 1024), not elsewhere.
my ($ws, $res) = WSClient->open_ws('/a/b',
    headers => [['Sec-WebSocket-Protocol' => 'other, root-proto']]);
is($res->{headers}{'sec-websocket-protocol'}, 'root-proto',
   '/a/b: the settings location\'s WebSocketProtocol is answered');
$ws->send_text(random_utf8(1025));
my $close = $ws->read_close(5);
is($close && $close->{code}, 1009,
   '/a/b: its WebSocketMaxMessageSize 1024 closes a 1025-byte message (1009)')
    or diag(WSClient::describe($close));
(undef, $res) = WSClient->open_ws('/fallback/echo',
    headers => [['Sec-WebSocket-Protocol' => 'root-proto']]);
ok(!defined $res->{headers}{'sec-websocket-protocol'},
   '/fallback/echo: outside <Location /a/b>, no subprotocol');

# One WS00006 line per handler found, none for what is not one.
my $log = Apache::Test::vars('t_logs') . '/error_log';
open my $fh, '<', $log or die "$log: $!";
my $text = do { local $/; <$fh> };
close $fh;
my %served = map { $_ => 1 } $text =~ /WS00006: WebSocketHandlerRoot \S+: \S+ serves (\S+)/g;
is(join(' ', sort keys %served), '/a/b /a/b/c /explicit /fallback/echo',
   'WS00006 names each handler found, and only those');
like($text, qr/WS00110: no WebSocket handler for \/index\.html under WebSocketHandlerRoot: 404/,
     'a 404 for a path without a handler is logged (WS00110)');

# .htaccess may not set a handler root.
my $dir = Apache::Test::vars('documentroot') . '/htaccess/rootdir';
make_path($dir, { mode => 0755 });
open my $ht, '>', "$dir/.htaccess" or die "$dir: $!";
print $ht "WebSocketHandlerRoot /tmp\n";
close $ht;
chmod 0644, "$dir/.htaccess";
(undef, $res) = WSClient->open_ws('/htaccess/rootdir/');
is($res->{status}, 500, '.htaccess with WebSocketHandlerRoot: 500');
open $fh, '<', $log or die "$log: $!";
$text = do { local $/; <$fh> };
close $fh;
like($text, qr/WebSocketHandlerRoot not allowed here/,
     '... and the error log says it is not allowed there');
remove_tree($dir);
