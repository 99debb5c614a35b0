# WebSocketOrigin (/origin allows http://allowed.example and
# *.trusted.example) and WebSocketProtocol (/echo accepts echo-protocol).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient;

plan tests => 11;

sub status_with_origin {
    my ($origin) = @_;
    my (undef, $res) = WSClient->open_ws('/origin',
        headers => [[Origin => $origin]]);
    return $res->{status};
}

is(status_with_origin('http://allowed.example'), 101, 'allowed Origin: 101');
is(status_with_origin('https://app.trusted.example'), 101, '*.trusted.example: 101');
is(status_with_origin('http://evil.example'), 403, 'foreign Origin: 403');
is(status_with_origin('http://allowed.example.evil.net'), 403, 'look-alike Origin: 403');
is(status_with_origin('null'), 403, 'Origin null: 403');
my (undef, $res) = WSClient->open_ws('/origin');
is($res->{status}, 101, 'no Origin (not a browser): 101');
(undef, $res) = WSClient->open_ws('/echo', headers => [[Origin => 'http://evil.example']]);
is($res->{status}, 101, 'a location without WebSocketOrigin checks nothing');

my $log = Apache::Test::vars('t_logs') . '/error_log';
open my $fh, '<', $log or die "$log: $!";
my @lines = grep { /WS00107.*evil\.example/ } <$fh>;
close $fh;
ok(@lines >= 1, 'a refused Origin is logged (WS00107)');

(undef, $res) = WSClient->open_ws('/echo',
    headers => [['Sec-WebSocket-Protocol' => 'chat, echo-protocol']]);
is($res->{headers}{'sec-websocket-protocol'}, 'echo-protocol',
   'WebSocketProtocol: the offered subprotocol the location accepts is chosen');
(undef, $res) = WSClient->open_ws('/echo',
    headers => [['Sec-WebSocket-Protocol' => 'chat']]);
is($res->{status}, 101, 'an offer the location does not accept: still 101');
ok(!defined $res->{headers}{'sec-websocket-protocol'}, '... with no subprotocol');
