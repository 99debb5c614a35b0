# Interop: the example pages (htdocs/chat.html, increment.html,
# console.html, close.html) in Debian's headless Chromium, driven by npm
# puppeteer-core over ws:// against the suite's /chat, /increment, /echo
# and /close: the chat in two tabs (messages, joins and the leave cross),
# the pushed counter advancing and reset, the console echoing text, hex
# and base64 and logging the close, the close page's CloseEvent.
# Under prefork each WebSocket is a child of its own and, without
# WebSocketPubSub, a topic stays in its child: the two-tab chat check is
# skipped there (the one-tab one still runs).
# Client: t/clients/browser_examples.js.  Skipped only when
# /usr/bin/chromium is absent.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my $prefork = InteropClient::loaded_mpm() eq 'prefork';
my @checks = ('chat_own_message', ($prefork ? () : 'chat_two_tabs'),
              qw(increment_page console_echo close_page));

plan skip_all => InteropClient::CHROMIUM . ' is absent (apt-get install chromium; scripts/deps.sh does)'
    unless -x InteropClient::CHROMIUM;

plan tests => @checks + 1 + ($prefork ? 1 : 0);

SKIP: {
    skip 'chat_two_tabs: prefork runs each WebSocket in a child of its own, and '
       . 'without WebSocketPubSub a topic stays in its child', 1 if $prefork;
}

my $run = InteropClient::run(
    name    => 'chromium-examples',
    timeout => 120,
    cmd     => [InteropClient::node(), InteropClient::client('browser_examples.js'),
                '--host', InteropClient::host(), '--port', InteropClient::port(),
                ($prefork ? '--no-cross' : ())],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
