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

# [name, config lines inside <Location /ws>, regexps the message must match,
#  lines at server level (before the Location)]
my $load_echo = "WebSocketHandlerLoad echo $echo echo";
my $load_v2   = "WebSocketHandlerLoad v2 $test_so v2_handler greeting=x";
my @bad = (
    [ 'handler path that does not exist', 'WebSocketHandler echo',
      [ qr/WebSocketHandlerLoad/, qr/no_such_handler\.so|cannot|load|not found|no such/i ],
      "WebSocketHandlerLoad echo $build/no_such_handler.so echo" ],
    [ 'handler .so without the named symbol', 'WebSocketHandler echo',
      [ qr/WebSocketHandlerLoad/, qr/no_such_symbol|symbol/i ],
      "WebSocketHandlerLoad echo $echo no_such_symbol" ],
    [ 'WebSocketHandlerLoad with too few arguments', '',
      [ qr/WebSocketHandlerLoad/, qr/takes a name, the path/ ],
      "WebSocketHandlerLoad echo $echo" ],
    [ 'WebSocketHandler without arguments', 'WebSocketHandler',
      [ qr/WebSocketHandler/, qr/argument|takes the name/i ], $load_echo ],
    [ 'WebSocketHandler naming a handler never loaded', 'WebSocketHandler nosuch',
      [ qr/WebSocketHandler/, qr/no handler named 'nosuch'/ ], $load_echo ],
    [ 'WebSocketHandler at server level', '',
      [ qr/WebSocketHandler/, qr/belongs inside <Location>/ ],
      "$load_echo\nWebSocketHandler echo" ],
    [ 'WebSocketHandlerLoad inside a Location', "WebSocketHandlerLoad e $echo echo",
      [ qr/WebSocketHandlerLoad/, qr/not allowed in <Location> context|not allowed here|cannot occur within/ ] ],
    [ 'the same handler name loaded twice', 'WebSocketHandler echo',
      [ qr/WebSocketHandlerLoad/, qr/named echo is already loaded/ ],
      "$load_echo\n$load_echo" ],
    [ 'init function that returns NULL', 'WebSocketHandler n',
      [ qr/WebSocketHandlerLoad/, qr/null_handler\(\).*returned NULL/ ],
      "WebSocketHandlerLoad n $test_so null_handler" ],
    [ 'init function built for another ABI version', 'WebSocketHandler f',
      [ qr/WebSocketHandlerLoad/, qr/ABI version 42.*versions 1 to 2/ ],
      "WebSocketHandlerLoad f $test_so future_abi_handler" ],
    [ 'init function with a table too small', 'WebSocketHandler t',
      [ qr/WebSocketHandlerLoad/, qr/too small/ ],
      "WebSocketHandlerLoad t $test_so tiny_handler" ],
    [ 'a data symbol named as the init function', 'WebSocketHandler d',
      [ qr/WebSocketHandlerLoad/, qr/'data_symbol'.*is data, not a function/ ],
      "WebSocketHandlerLoad d $test_so data_symbol" ],
    [ 'a module record named as the init function', 'WebSocketHandler s',
      [ qr/WebSocketHandlerLoad/, qr/'status_module'.*is data, not a function/ ],
      "WebSocketHandlerLoad s $modules/mod_status.so status_module" ],
    [ 'an init function that crashes', 'WebSocketHandler c',
      [ qr/crash_handler\(\) in \S+mod_websocket_test\.so crashed/ ],
      "WebSocketHandlerLoad c $test_so crash_handler" ],
    [ 'handler path that is not a shared object', 'WebSocketHandler r',
      [ qr/WebSocketHandlerLoad/, qr/cannot load/ ],
      "WebSocketHandlerLoad r $top/README.md echo" ],
    [ 'a handler-wide argument the handler rejects', 'WebSocketHandler v2',
      [ qr/WebSocketHandlerLoad/, qr/handler v2: unknown argument \(expected greeting=WORD\)/ ],
      "WebSocketHandlerLoad v2 $test_so v2_handler bogus" ],
    [ 'a location argument the handler rejects', 'WebSocketHandler v2 label=x nope',
      [ qr/WebSocketHandler/, qr/handler v2: unknown argument \(expected label=NAME/ ],
      $load_v2 ],
    [ 'arguments for a handler that takes none', 'WebSocketHandler echo extra',
      [ qr/WebSocketHandler/, qr/handler echo takes no arguments/ ], $load_echo ],
    [ 'WebSocketProtocol with a name that is not a token',
      "WebSocketHandler echo\n    WebSocketProtocol good bad,name",
      [ qr/WebSocketProtocol/, qr/'bad,name' is not a valid subprotocol/ ], $load_echo ],
    [ 'WebSocketOrigin with a wildcard inside a name',
      "WebSocketHandler echo\n    WebSocketOrigin https://ex*ample.com",
      [ qr/WebSocketOrigin/, qr/wildcard is allowed only as the first label/ ], $load_echo ],
    [ 'WebSocketOrigin with a path',
      "WebSocketHandler echo\n    WebSocketOrigin https://example.com/app",
      [ qr/WebSocketOrigin/, qr/scheme:\/\/\]host\[:port\]/ ], $load_echo ],
    map({ [ "$_->[0] $_->[1]",
            "WebSocketHandler echo\n    $_->[0] $_->[1]",
            [ qr/$_->[0]/, qr/whole number/ ], $load_echo ] }
        [ 'WebSocketMaxPendingOutput', '0' ], [ 'WebSocketMaxPendingOutput', 'lots' ],
        [ 'WebSocketPingInterval', '-1' ], [ 'WebSocketIdleTimeout', '5s' ],
        [ 'WebSocketSendTimeout', '-3' ], [ 'WebSocketSendTimeout', 'soon' ]),
    [ 'WebSocketCapacityWarning that is not a number', 'WebSocketHandler echo',
      [ qr/WebSocketCapacityWarning/, qr/whole number/ ],
      "$load_echo\nWebSocketCapacityWarning many" ],
    [ 'WebSocketCapacityWarning inside a Location',
      "WebSocketHandler echo\n    WebSocketCapacityWarning 10",
      [ qr/WebSocketCapacityWarning/, qr/not allowed|cannot occur/ ], $load_echo ],
    [ 'WebSocketLogFormat with an unknown directive',
      "WebSocketHandler echo\n    WebSocketLogFormat \"%a %Q\"",
      [ qr/WebSocketLogFormat/, qr/unknown % directive/ ], $load_echo ],
    map({ [ "$_->[0] $_->[1]",
            "WebSocketHandler echo\n    WebSocketDeflate On\n    $_->[0] $_->[1]",
            [ qr/$_->[0]/, $_->[2] ], $load_echo ] }
        [ 'WebSocketDeflateMode', 'fast', qr/must be shared or dedicated, not 'fast'/ ],
        [ 'WebSocketDeflateWindowBits', '8', qr/the server's window must be a whole number from 9 to 15/ ],
        [ 'WebSocketDeflateWindowBits', '12 7', qr/the client's window must be a whole number from 8 to 15/ ],
        [ 'WebSocketDeflateMemLevel', '10', qr/memory level must be a whole number from 1 to 9/ ],
        [ 'WebSocketDeflateMinSize', 'big', qr/whole number/ ],
        [ 'WebSocketDeflate', 'maybe', qr/must be On or Off/ ]),
    map({ [ "$_->[0] $_->[1]", 'WebSocketHandler echo',
            [ qr/$_->[0]/, $_->[2] ], "$load_echo\n$_->[0] $_->[1]" ] }
        [ 'WebSocketMaxMemory', '100K', qr/1M at least/ ],
        [ 'WebSocketMaxMemory', 'lots', qr/takes bytes/ ],
        [ 'WebSocketMaxConnections', '-1', qr/whole number from 0/ ],
        [ 'WebSocketMaxClientConnections', 'ten', qr/whole number from 0/ ],
        [ 'WebSocketPubSub', 'http://x', qr/neither redis:/ ],
        [ 'WebSocketPubSub', 'redis://h:99999', qr/bad port/ ],
        [ 'WebSocketPubSub', 'unix:relative.sock', qr/must be absolute/ ],
        [ 'WebSocketPubSub', 'redis://h:6379 colour=blue', qr/unknown argument/ ]),
    [ 'WebSocketMaxMemory inside a Location', "WebSocketHandler echo\n    WebSocketMaxMemory 64M",
      [ qr/WebSocketMaxMemory/, qr/not allowed|cannot occur/ ], $load_echo ],
    map({ [ "$_->[0] $_->[1]", "WebSocketHandler echo\n    $_->[0] $_->[1]",
            [ qr/$_->[0]/, $_->[2] ], $load_echo ] }
        [ 'WebSocketMessageRate', 'fast', qr/whole number/ ],
        [ 'WebSocketMaxFragments', '-2', qr/whole number/ ],
        [ 'WebSocketSlowSubscriber', 'close 1000', qr/drop, or close/ ]),
    map({ [ "WebSocketMaxMessageSize $_",
            "WebSocketHandler echo\n    WebSocketMaxMessageSize $_",
            [ qr/WebSocketMaxMessageSize/,
              qr/positive|number|invalid|must|bytes/i ], $load_echo ] } qw(abc 0 -5)),
);

# WebSocketHandlerRoot: [name, directory => { file => target }, regexps]
# (target: a path to link to, or \'text' for a file with that text).  Each
# tree is made under the temp directory; the case's config names it
# relative to ServerRoot, as a user would.
my @bad_roots = (
    [ 'a root whose init returns NULL', { 'n/null_handler.so' => $test_so },
      [ qr/WebSocketHandlerRoot \S+root-\d+/, qr{root-\d+/n/null_handler\.so \(for /n/null_handler\)},
        qr/null_handler\(\).*returned NULL/ ] ],
    [ 'a root whose file lacks both init names', { 'nosuch.so' => $test_so },
      [ qr/WebSocketHandlerRoot/, qr/nosuch\.so has neither 'ws_handler_init' nor 'nosuch'/ ] ],
    [ 'a root whose file names a data symbol', { 'data_symbol.so' => $test_so },
      [ qr/WebSocketHandlerRoot/, qr/'data_symbol' in \S+data_symbol\.so is data, not a function/ ] ],
    [ 'a root whose init crashes', { 'crash_handler.so' => $test_so },
      [ qr/crash_handler\(\) in \S+root-\d+\/crash_handler\.so crashed/ ] ],
    [ 'a root whose init speaks another ABI', { 'future_abi_handler.so' => $test_so },
      [ qr/WebSocketHandlerRoot/, qr/future_abi_handler\.so.*ABI version 42/ ] ],
    [ 'a root with a text file named x.so', { 'x.so' => \"not ELF\n" },
      [ qr/WebSocketHandlerRoot/, qr/cannot load \S+root-\d+\/x\.so/ ] ],
    [ 'a root with a dangling link named y.so', { 'y.so' => "/nonexistent/y.so" },
      [ qr/WebSocketHandlerRoot/, qr/y\.so: cannot stat it/ ] ],
    [ 'a root that loops through a symbolic link', { 'loop' => '.' },
      [ qr/WebSocketHandlerRoot/, qr/more than 16 directories deep/ ] ],
);

plan tests => 2 * @bad + 2 * @bad_roots + 25;

my $dir = tempdir('mod_websocket-configtest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $n = 0;

# Returns (exit code, output) of `httpd -t` on a config with $location_body
# and $server_lines before it.
sub configtest {
    my ($location_body, $server_lines) = @_;
    $server_lines //= '';
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
$server_lines
<Location /ws>
    $location_body
</Location>
EOC
    close $fh;
    # No core file: one case crashes httpd -t on purpose.
    my $out = qx{ulimit -c 0; '$httpd' -t -f '$conf' 2>&1};
    my $rc  = $? >> 8;
    $out =~ s/^\s+|\s+$//g;
    return ($rc, $out);
}

for my $case (@bad) {
    my ($name, $body, $patterns, $server) = @$case;
    my ($rc, $out) = configtest($body, $server);
    diag("$name: $out");
    ok($rc != 0, "$name: httpd -t fails (exit $rc)");
    my @missing = grep { $out !~ $_ } @$patterns;
    ok(!@missing, "$name: message names the directive and the problem")
        or diag("expected it to match: @missing");
}

# A tree under $dir/root-<n>: links or text files; returns its name
# relative to $dir (the ServerRoot of every case).
my $roots = 0;
sub make_root {
    my ($files) = @_;
    my $name = 'root-' . ++$roots;
    mkdir "$dir/$name" or die "$dir/$name: $!";
    for my $rel (sort keys %$files) {
        my $path = "$dir/$name/$rel";
        (my $parent = $path) =~ s{/[^/]+$}{};
        system('mkdir', '-p', $parent) == 0 or die "mkdir $parent";
        if (ref $files->{$rel}) {
            open my $fh, '>', $path or die "$path: $!";
            print $fh ${ $files->{$rel} };
            close $fh;
        } else {
            symlink($files->{$rel}, $path) or die "symlink $path: $!";
        }
    }
    return $name;
}

for my $case (@bad_roots) {
    my ($name, $files, $patterns) = @$case;
    my ($rc, $out) = configtest('', 'WebSocketHandlerRoot ' . make_root($files));
    diag("$name: $out");
    ok($rc != 0, "$name: httpd -t fails (exit $rc)");
    my @missing = grep { $out !~ $_ } @$patterns;
    ok(!@missing, "$name: message names the directive, the file and the problem")
        or diag("expected it to match: @missing");
}

{
    my ($rc, $out) = configtest('', "WebSocketHandlerRoot no-such-dir");
    ok($rc != 0 && $out =~ m{WebSocketHandlerRoot: \S+/no-such-dir is not a directory},
       'a root that does not exist: refused') or diag("output: $out");
    ($rc, $out) = configtest('', "WebSocketHandlerRoot $echo");
    ok($rc != 0 && $out =~ /mod_websocket_echo\.so is not a directory/,
       'a root that is a file: refused') or diag("output: $out");
    ($rc, $out) = configtest("WebSocketHandlerRoot $build");
    ok($rc != 0 && $out =~ /WebSocketHandlerRoot/ && $out =~ /not allowed (here|in <Location> context)|cannot occur within/,
       'WebSocketHandlerRoot inside a Location: refused') or diag("output: $out");
    my $a = make_root({ 'echo.so' => $echo });
    my $b = make_root({ 'echo.so' => $echo });
    ($rc, $out) = configtest('', "WebSocketHandlerRoot $a\nWebSocketHandlerRoot $b");
    ok($rc != 0 && $out =~ m{both \S+$a/echo\.so and \S+$b/echo\.so would serve /echo},
       'two roots with the same path: refused, naming both files') or diag("output: $out");

    # A good root: nested, both conventions, and what is not a handler
    # (a text file, a hidden .so, a directory without one) is passed over.
    # One WS00006 line per handler (not two: configtest reads the
    # configuration once; startup logs after its second reading only).
    my $good = make_root({ 'echo.so' => $echo, 'deep/er/room.so' => "$build/mod_websocket_room.so",
                           'a/b.so' => "$build/mod_websocket_roottest.so",
                           'README.txt' => \"text\n", '.hidden.so' => \"text\n",
                           'empty/.keep' => \"" });
    ($rc, $out) = configtest("WebSocketProtocol p",
                             "LogLevel warn websocket:info\nWebSocketHandlerRoot $good");
    ok($rc == 0 && $out =~ /Syntax OK/, 'a good root: httpd -t passes') or diag("output: $out");
    my @lines = $out =~ /WS00006: ([^\n]*)/g;
    is(scalar @lines, 3, '... one WS00006 line per handler') or diag("output: $out");
    like($out, qr{WS00006: WebSocketHandlerRoot \S+/$good: \S+/$good/a/b\.so serves /a/b \(init function ws_handler_init\)},
         '... a/b.so serves /a/b through ws_handler_init');
    like($out, qr{\S+/$good/deep/er/room\.so serves /deep/er/room \(init function room\)},
         '... deep/er/room.so serves /deep/er/room through room() (its file name)');
    like($out, qr{\S+/$good/echo\.so serves /echo \(init function echo\)},
         '... echo.so serves /echo through echo()');
    # In a virtual host, too.
    ($rc, $out) = configtest('', "<VirtualHost 127.0.0.1:1>\n    WebSocketHandlerRoot $good\n</VirtualHost>");
    ok($rc == 0, 'WebSocketHandlerRoot in a virtual host: httpd -t passes') or diag("output: $out");
}

my ($rc, $out) = configtest(
    "WebSocketHandler v2 label=x tick=10\n    WebSocketMaxMessageSize 1024\n"
    . "    WebSocketMaxPendingOutput 65536\n    WebSocketPingInterval 30\n"
    . "    WebSocketIdleTimeout 300\n    WebSocketSendTimeout 20\n"
    . "    WebSocketProtocol chat superchat\n"
    . "    WebSocketOrigin https://app.example.com *.example.org localhost:9998\n"
    . "    WebSocketLogFormat \"%a %U %{in}m %c %w %%\"", $load_v2);
ok($rc == 0, "good config: httpd -t passes") or diag("output: $out");
ok($out =~ /Syntax OK/, 'good config: "Syntax OK"') or diag("output: $out");
unlike($out, qr/child_init/, 'good config: configtest runs no on_child_init (no child there)');

# The version-1 form still loads inside a Location, with a warning that
# says what to write instead.
($rc, $out) = configtest("WebSocketHandler $echo echo");
ok($rc == 0, 'deprecated WebSocketHandler path init: httpd -t passes')
    or diag("output: $out");
like($out, qr/WebSocketHandler with a path is deprecated.*WebSocketHandlerLoad echo \S+mod_websocket_echo\.so echo/,
     '... with a deprecation warning naming the replacement');
# ... but not at server level.
($rc, $out) = configtest('', "WebSocketHandler $echo echo");
ok($rc != 0 && $out =~ /belongs inside <Location>/,
   'deprecated form at server level: refused') or diag("output: $out");

# The capacity warning: Debian's stock mpm_event settings (150 workers, 25
# per child, factor 2) hold 450 connections in all, below the default
# threshold of 1000; the factor raised, no warning; threshold 0, none.
my $stock = "StartServers 2\nThreadsPerChild 25\nMaxRequestWorkers 150\n$load_echo";
($rc, $out) = configtest('WebSocketHandler echo', $stock);
ok($rc == 0, 'stock mpm_event settings: httpd -t passes') or diag("output: $out");
like($out, qr/WS00004: this server can hold at most 450 open connections.*6 children x ThreadsPerChild 25 x \(1 \+ AsyncRequestWorkerFactor 2\).*Raise AsyncRequestWorkerFactor \(e\.g\. 6 /,
     '... warns: 450 connections, and which directive to raise') or diag("output: $out");
($rc, $out) = configtest('WebSocketHandler echo', "$stock\nAsyncRequestWorkerFactor 400");
unlike($out, qr/WS00004/, 'AsyncRequestWorkerFactor 400: no capacity warning');
($rc, $out) = configtest('WebSocketHandler echo', "$stock\nWebSocketCapacityWarning 0");
unlike($out, qr/WS00004/, 'WebSocketCapacityWarning 0: no capacity warning');

# The configuration `make run`/`make start` ship (conf/httpd.conf.in) passes
# without the warning.
{
    my %sub = (PORT => 1, LISTEN => '127.0.0.1:1', TLS_PORT => 2,
               TLS_LISTEN => '127.0.0.1:2', TLS_CRT => "$build/tls/server.crt",
               TLS_KEY => "$build/tls/server.key", SERVER_ROOT => $dir,
               MODULE_DIR => $modules, BUILD_DIR => $build, HTDOCS => $dir,
               RUN_USER => 'nobody', RUN_GROUP => 'nogroup');
    open my $in, '<', "$top/conf/httpd.conf.in" or die "conf/httpd.conf.in: $!";
    my $text = do { local $/; <$in> };
    close $in;
    $text =~ s/\@([A-Z_]+)\@/$sub{$1} \/\/ die "unknown \@$1\@"/ge;
    mkdir "$dir/logs";
    my $conf = "$dir/shipped.conf";
    open my $fh, '>', $conf or die "$conf: $!";
    print $fh $text;
    close $fh;
    my $shipped = qx{ulimit -c 0; '$httpd' -t -f '$conf' 2>&1};
    like($shipped, qr/Syntax OK/, 'the shipped configuration: httpd -t passes')
        or diag($shipped);
    unlike($shipped, qr/WS00004/, '... without the capacity warning');
    # make run serves its handlers from build/handlers/ (WebSocketHandlerRoot),
    # /echo among them with its settings-only <Location>.
    like($text, qr{^WebSocketHandlerRoot "\Q$build\E/handlers"}m,
         '... which serves build/handlers/ as a handler root');
    ok(-f "$build/handlers/echo.so", '... where the build put echo.so');
    like($shipped, qr{WS00006: WebSocketHandlerRoot \S+: \S+/handlers/echo\.so serves /echo \(init function echo\)},
         '... and /echo is served from it (LogLevel websocket:info)') or diag($shipped);
}
