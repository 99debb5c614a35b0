# Interop: a real browser.  Debian's headless Chromium driven by npm
# puppeteer-core loads the tutorial page (/), clicks "Run WebSocket" and checks
# the page's output and the browser's own WebSocket frames (CDP Network
# events), and the page's second link (subprotocol echo-protocol, ws.protocol
# shown); then, in the page, subprotocol "chat" on /test, an ArrayBuffer
# round trip on /echo, a page of a foreign Origin refused on /origin
# (WebSocketOrigin) and accepted on /echo, and a server close 4001 "bye".
# Twice: http:// + ws:// on the main port, then https:// + wss:// on the TLS
# vhost (--ignore-certificate-errors).  Over TLS Chromium negotiates h2 and,
# since the server announces SETTINGS_ENABLE_CONNECT_PROTOCOL, opens the
# page's WebSockets as extended CONNECT streams (RFC 8441) on the page's
# HTTP/2 connection.  Which transport they really used is read from the
# server's side: t/logs/tls_access_log logs %H, and mod_http2 hands a
# WebSocket stream to the module as "GET /echo HTTP/2.0" answered 101 (an
# HTTP/1.1 WebSocket logs "GET /echo HTTP/1.1" 101).  Under mpm_event they
# must be HTTP/2; under prefork mod_http2 is off, so HTTP/1.1 over TLS.
# Client: t/clients/browser.js.  Skipped only when /usr/bin/chromium is absent.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use File::Spec ();
use InteropClient;
use Time::HiRes qw(time);

my @checks = qw(
    page_loaded tutorial_output tutorial_cdp_frames tutorial_subprotocol
    page_scenario_ran subprotocol_chat binary_arraybuffer
    origin_refused_and_accepted server_close_4001
);
# The page and its WebSockets that upgrade: the tutorial's /echo twice
# (without and with a subprotocol), /test (chat), /echo (binary), /echo
# (Origin check's accepted one), /test (close 4001); /origin is refused.
my $SOCKETS = 6;

plan skip_all => InteropClient::CHROMIUM . ' is absent (apt-get install chromium; scripts/deps.sh does)'
    unless -x InteropClient::CHROMIUM;

plan tests => 1 + 2 * (@checks + 1) + 2;

my $pkg = InteropClient::client('node_modules/puppeteer-core/package.json');
ok(-e $pkg, 'npm package puppeteer-core installed in t/clients')
    or diag("missing $pkg: run `npm ci` in t/clients (scripts/deps.sh does)");

my $tls_log = File::Spec->catfile(Apache::Test::vars('t_logs'), 'tls_access_log');
my $log_from = -s $tls_log || 0;

for my $t (['chromium' => InteropClient::port()],
           ['chromium-https' => InteropClient::tls_port(), '--tls']) {
    my ($name, $port, @tls) = @$t;
    my $run = InteropClient::run(
        name    => $name,
        timeout => 150,
        cmd     => [InteropClient::node(), InteropClient::client('browser.js'),
                    '--host', InteropClient::host(), '--port', $port, @tls],
    );
    InteropClient::assert_checks($run, @checks);
    InteropClient::assert_exit($run);
    my ($transport) = map { $_->{transport} } grep { $_->{transport} } @{ $run->{extra} };
    diag("$name: CDP saw page protocol " . ($transport->{page} // '?') . ', handshakes '
         . join(' ', map { ($_->{status} // '?') } @{ $transport->{handshakes} || [] }))
        if $transport;
}

# The server's record of the https run: its lines of tls_access_log.
my $h2 = InteropClient::loaded_mpm() ne 'prefork';
my $want = $h2 ? 'HTTP/2.0' : 'HTTP/1.1';
my (@page, @ws);
# The WebSockets' lines may be written as they end, just after the browser
# saw them close: look again for a little while (bounded).
my $deadline = time + 5;
while (1) {
    my $text = '';
    if (open my $fh, '<', $tls_log) {
        seek $fh, $log_from, 0;
        local $/;
        $text = <$fh> // '';
    }
    @page = $text =~ m{^.*"GET / (HTTP/[\d.]+)" 200 .*$}mg;
    @ws   = $text =~ m{^.*"GET /(?:echo|test)(?:\?\S*)? (HTTP/[\d.]+)" 101 .*$}mg;
    last if @ws >= $SOCKETS || time >= $deadline;
    select undef, undef, undef, 0.1;
}
is("@page", $want, "chromium-https: the page came over $want (server's log)")
    or diag("tls_access_log lines for GET /: @page");
is(join(' ', @ws), join(' ', ($want) x $SOCKETS),
   "chromium-https: the page's $SOCKETS WebSockets went over $want"
   . ($h2 ? ' (extended CONNECT streams)' : ' (mod_http2 is off under prefork)'))
    or diag("tls_access_log WebSocket lines' protocols: @ws");
