# t/config/configtest.t - the module's directives fail `httpd -t` with a
# clear message, and a good configuration passes.
#
# Each case is a small throwaway configuration in a temp directory that
# loads build/mod_websocket.so and is checked with `httpd -t -f <abs path>`
# (the same binary the suite runs, so SANITIZE=1 builds go through
# scripts/httpd-wrapper).  It needs no running server.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use File::Temp qw(tempdir);

my $httpd   = Apache::Test::vars('httpd');
my $top     = Apache::Test::vars('top_dir');
my $build   = "$top/build";
my $modules = '/usr/lib/apache2/modules';
my $echo    = "$build/mod_websocket_echo.so";
my $test_so = "$build/mod_websocket_test.so";

# [name, config lines inside <Location /ws>, regexps the message must match]
my @bad = (
    [ 'handler path that does not exist',
      "WebSocketHandler $build/no_such_handler.so echo",
      [ qr/WebSocketHandler/, qr/no_such_handler\.so|cannot|load|not found|no such/i ] ],
    [ 'handler .so without the named symbol',
      "WebSocketHandler $echo no_such_symbol",
      [ qr/WebSocketHandler/, qr/no_such_symbol|symbol/i ] ],
    [ 'WebSocketHandler without arguments',
      "WebSocketHandler",
      [ qr/WebSocketHandler/, qr/argument/i ] ],
    [ 'WebSocketHandler with only a path',
      "WebSocketHandler $echo",
      [ qr/WebSocketHandler/, qr/argument/i ] ],
    [ 'init function that returns NULL',
      "WebSocketHandler $test_so null_handler",
      [ qr/WebSocketHandler/, qr/null_handler\(\).*returned NULL/ ] ],
    [ 'init function built for another ABI version',
      "WebSocketHandler $test_so future_abi_handler",
      [ qr/WebSocketHandler/, qr/ABI version 42.*speaks version 1/ ] ],
    [ 'init function with a table too small',
      "WebSocketHandler $test_so tiny_handler",
      [ qr/WebSocketHandler/, qr/too small/ ] ],
    [ 'handler path that is not a shared object',
      "WebSocketHandler $top/README.md echo",
      [ qr/WebSocketHandler/, qr/cannot load/ ] ],
    map({ [ "$_->[0] $_->[1]",
            "WebSocketHandler $echo echo\n    $_->[0] $_->[1]",
            [ qr/$_->[0]/, qr/whole number/ ] ] }
        [ 'WebSocketMaxPendingOutput', '0' ], [ 'WebSocketMaxPendingOutput', 'lots' ],
        [ 'WebSocketPingInterval', '-1' ], [ 'WebSocketIdleTimeout', '5s' ],
        [ 'WebSocketSendTimeout', '-3' ], [ 'WebSocketSendTimeout', 'soon' ]),
    [ 'WebSocketLogFormat with an unknown directive',
      "WebSocketHandler $echo echo\n    WebSocketLogFormat \"%a %Q\"",
      [ qr/WebSocketLogFormat/, qr/unknown % directive/ ] ],
    map({ [ "WebSocketMaxMessageSize $_",
            "WebSocketHandler $echo echo\n    WebSocketMaxMessageSize $_",
            [ qr/WebSocketMaxMessageSize/,
              qr/positive|number|invalid|must|bytes/i ] ] } qw(abc 0 -5)),
);

plan tests => 2 * @bad + 2;

my $dir = tempdir('mod_websocket-configtest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $n = 0;

# Returns (exit code, output) of `httpd -t` on a config with $location_body.
sub configtest {
    my ($location_body) = @_;
    my $conf = "$dir/httpd-" . ++$n . ".conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh <<"EOC";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule websocket_module $build/mod_websocket.so
<Location /ws>
    $location_body
</Location>
EOC
    close $fh;
    my $out = qx{'$httpd' -t -f '$conf' 2>&1};
    my $rc  = $? >> 8;
    $out =~ s/^\s+|\s+$//g;
    return ($rc, $out);
}

for my $case (@bad) {
    my ($name, $body, $patterns) = @$case;
    my ($rc, $out) = configtest($body);
    diag("$name: $out");
    ok($rc != 0, "$name: httpd -t fails (exit $rc)");
    my @missing = grep { $out !~ $_ } @$patterns;
    ok(!@missing, "$name: message names the directive and the problem")
        or diag("expected it to match: @missing");
}

my ($rc, $out) = configtest(
    "WebSocketHandler $echo echo\n    WebSocketMaxMessageSize 1024\n"
    . "    WebSocketMaxPendingOutput 65536\n    WebSocketPingInterval 30\n"
    . "    WebSocketIdleTimeout 300\n    WebSocketSendTimeout 20\n"
    . "    WebSocketLogFormat \"%a %U %{in}m %c %w %%\"");
ok($rc == 0, "good config: httpd -t passes") or diag("output: $out");
ok($out =~ /Syntax OK/, 'good config: "Syntax OK"') or diag("output: $out");
