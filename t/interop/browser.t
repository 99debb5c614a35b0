# Interop: a real browser.  Debian's headless Chromium driven by npm
# puppeteer-core loads the tutorial page (/), clicks "Run WebSocket" and checks
# the page's output and the browser's own WebSocket frames (CDP Network
# events); then, in the page, subprotocol "chat" on /test, an ArrayBuffer
# round trip on /echo and a server close 4001 "bye".
# Client: t/clients/browser.js.  Skipped only when /usr/bin/chromium is absent.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my @checks = qw(
    page_loaded tutorial_output tutorial_cdp_frames page_scenario_ran
    subprotocol_chat binary_arraybuffer server_close_4001
);

plan skip_all => InteropClient::CHROMIUM . ' is absent (apt-get install chromium; scripts/deps.sh does)'
    unless -x InteropClient::CHROMIUM;

plan tests => 2 + @checks;

my $pkg = InteropClient::client('node_modules/puppeteer-core/package.json');
ok(-e $pkg, 'npm package puppeteer-core installed in t/clients')
    or diag("missing $pkg: run `npm ci` in t/clients (scripts/deps.sh does)");

my $run = InteropClient::run(
    name    => 'chromium',
    timeout => 150,
    cmd     => [InteropClient::node(), InteropClient::client('browser.js'),
                '--host', InteropClient::host(), '--port', InteropClient::port(),
                '--chromium', InteropClient::CHROMIUM],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
