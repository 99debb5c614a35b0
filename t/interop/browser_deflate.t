# Interop: permessage-deflate (RFC 7692) with a real browser.  Debian's
# headless Chromium (puppeteer-core) opens /deflate (shared mode) and
# /deflate/dedicated (context kept both ways, server window 11) from a page,
# sends ~4 KiB JSON texts and binary ArrayBuffers and checks the echoes, the
# server's short pushes (shared) and a handler thread's sends (dedicated,
# compressed with context: in wire order or they do not inflate); CDP shows
# Chromium's offer and the Sec-WebSocket-Extensions answer, and the server's
# WSLOG line for each connection (t/logs/error_log) shows
# ext=permessage-deflate and wire bytes in and out well below the payload.
# Twice: ws:// on the main port, then wss:// on the TLS vhost.  Under
# mpm_event Chromium opens the wss:// WebSockets as extended CONNECT
# streams over HTTP/2 (RFC 8441), read here from t/logs/tls_access_log
# ("GET /deflate HTTP/2.0" 101): deflate negotiated over RFC 8441.  Under
# prefork mod_http2 is off: HTTP/1.1 over TLS.
# Client: t/clients/browser_deflate.js.  Skipped only when /usr/bin/chromium
# is absent.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use File::Spec ();
use InteropClient;
use Time::HiRes qw(time);

my @checks = qw(deflate_page_loaded);
push @checks, map { ("deflate_${_}_echo", "deflate_${_}_negotiated", "deflate_${_}_wire") }
    qw(shared dedicated);
my @PATHS = ('/deflate', '/deflate/dedicated');

plan skip_all => InteropClient::CHROMIUM . ' is absent (apt-get install chromium; scripts/deps.sh does)'
    unless -x InteropClient::CHROMIUM;

plan tests => 1 + 2 * (@checks + 1) + @PATHS;

my $pkg = InteropClient::client('node_modules/puppeteer-core/package.json');
ok(-e $pkg, 'npm package puppeteer-core installed in t/clients')
    or diag("missing $pkg: run `npm ci` in t/clients (scripts/deps.sh does)");

my $logs = Apache::Test::vars('t_logs');
my $error_log = File::Spec->catfile($logs, 'error_log');
my $tls_log = File::Spec->catfile($logs, 'tls_access_log');
my $log_from = -s $tls_log || 0;

for my $t (['chromium-deflate' => InteropClient::port()],
           ['chromium-deflate-https' => InteropClient::tls_port(), '--tls']) {
    my ($name, $port, @tls) = @$t;
    my $run = InteropClient::run(
        name    => $name,
        timeout => 120,
        cmd     => [InteropClient::node(), InteropClient::client('browser_deflate.js'),
                    '--host', InteropClient::host(), '--port', $port,
                    '--error-log', $error_log, @tls],
    );
    InteropClient::assert_checks($run, @checks);
    InteropClient::assert_exit($run);
    my ($d) = map { $_->{deflate} } grep { $_->{deflate} } @{ $run->{extra} };
    for my $mode (sort keys %{ $d || {} }) {
        my $m = $d->{$mode};
        diag("$name $mode: $m->{status} \"$m->{answer}\", payload $m->{payload}, wire in=$m->{log}{in} out=$m->{log}{out}")
            if $m->{log};
    }
}

# The https run, from the server's side: each WebSocket's line in
# tls_access_log.  Written as the stream ends, just after the browser saw
# the close: look again for a little while (bounded).
my $h2 = InteropClient::loaded_mpm() ne 'prefork';
my $want = $h2 ? 'HTTP/2.0' : 'HTTP/1.1';
my %seen;
my $deadline = time + 5;
while (1) {
    my $text = '';
    if (open my $fh, '<', $tls_log) {
        seek $fh, $log_from, 0;
        local $/;
        $text = <$fh> // '';
    }
    %seen = ();
    push @{ $seen{$1} }, $2 while $text =~ m{"GET (/deflate(?:/dedicated)?) (HTTP/[\d.]+)" 101 }g;
    last if (grep { $seen{$_} } @PATHS) == @PATHS || time >= $deadline;
    select undef, undef, undef, 0.1;
}
for my $p (@PATHS) {
    is(join(' ', @{ $seen{$p} || [] }), $want,
       "chromium-deflate-https: $p went over $want"
       . ($h2 ? ' (an extended CONNECT stream, RFC 8441)'
              : ' (mod_http2 is off under prefork)'));
}
