# t/config/tutorial_page.t - "/" is the tutorial's page, served from the
# staged DocumentRoot (t/TEST.PL).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);

plan tests => 8;

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
