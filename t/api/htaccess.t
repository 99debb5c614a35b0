# .htaccess (AllowOverride FileInfo on DocumentRoot/htaccess) may select a
# handler loaded by the server configuration, never load code itself.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use File::Path qw(make_path remove_tree);
use WSClient;

plan tests => 7;

my $root = Apache::Test::vars('documentroot') . '/htaccess';
my $top  = Apache::Test::vars('top_dir');
my %dirs = (
    ok    => "WebSocketHandler echo\n",
    args  => "WebSocketHandler v2 label=evil\n",
    load  => "WebSocketHandlerLoad mine $top/build/mod_websocket_echo.so echo\n",
    old   => "WebSocketHandler $top/build/mod_websocket_echo.so echo\n",
);
for my $d (keys %dirs) {
    make_path("$root/$d", { mode => 0755 });
    open my $fh, '>', "$root/$d/.htaccess" or die "$root/$d: $!";
    print $fh $dirs{$d};
    close $fh;
    chmod 0644, "$root/$d/.htaccess";
}

my ($ws, $res) = WSClient->open_ws('/htaccess/ok/');
is($res->{status}, 101, '.htaccess selecting a loaded handler by name: 101');
$ws->send_text('from htaccess');
my $m = $ws->read_message(5);
is($m && $m->{payload}, 'from htaccess', '... and it echoes');
$ws->close(1000);

for my $case ([args => 'arguments'], [load => 'WebSocketHandlerLoad'],
              [old => 'the old form with a path']) {
    (undef, $res) = WSClient->open_ws("/htaccess/$case->[0]/");
    is($res->{status}, 500, ".htaccess with $case->[1]: 500, nothing loaded");
}

my $log = Apache::Test::vars('t_logs') . '/error_log';
open my $fh, '<', $log or die "$log: $!";
my $text = do { local $/; <$fh> };
close $fh;
like($text, qr/WebSocketHandlerLoad not allowed here/,
     'the error log says WebSocketHandlerLoad is not allowed in .htaccess');
like($text, qr/loading a handler is not allowed in \.htaccess; load it in the server configuration/,
     '... and says what to do instead of the old form');
remove_tree($root);
