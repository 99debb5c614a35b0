# t/config/tutorial_page.t - "/" is the tutorial's page, served from the
# staged DocumentRoot (t/TEST.PL), and links to the example pages, which
# are served beside it and open the WebSockets of their handlers.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);

plan tests => 8 + 4 * 3;

for my $path ('/', '/index.html') {
    my $res = GET $path;
    is($res->code, 200, "GET $path");
    like($res->content, qr/Run WebSocket/, "$path is the tutorial page");
}

my $page = GET('/')->content;
like($page, qr/id="run"/,    'the link is #run');
like($page, qr/id="output"/, 'the log is #output');
like($page, qr{location\.host\s*\+\s*"/echo"}, 'it connects to ws://<host>/echo');
like(GET('/')->header('Content-Type') // '', qr{^text/html}, 'served as text/html');

# The example pages: linked from the index, served as HTML, each opening
# its own location (console.html: /echo by default).
my %opens = ('chat.html' => '/chat', 'increment.html' => '/increment',
             'close.html' => '/close', 'console.html' => '/echo');
for my $p (sort keys %opens) {
    like($page, qr/<a href="\Q$p\E">/, "the index links to $p");
    my $res = GET "/$p";
    ok($res->code == 200 && ($res->header('Content-Type') // '') =~ m{^text/html},
       "GET /$p: 200 text/html") or diag('status ' . $res->code);
    like($res->content, qr{location\.host\s*\+\s*"\Q$opens{$p}\E}, "$p connects to $opens{$p}");
}
