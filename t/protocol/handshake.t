# The opening handshake (RFC 6455 section 4): what is accepted, what is
# refused and with which status, subprotocol selection, extensions ignored.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(accept_key random_bytes has_token OP_TEXT);
use MIME::Base64 qw(encode_base64);

plan tests => 69 + 7 + 4;

my $SAMPLE_KEY    = 'dGhlIHNhbXBsZSBub25jZQ==';
my $SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

sub shake {
    my ($path, %o) = @_;
    my ($ws, $res) = WSClient->open_ws($path, %o);
    return ($ws, $res);
}

sub show {
    my ($res) = @_;
    return "status $res->{status}" . ($res->{error} ? " ($res->{error})" : '')
         . "\nrequest:\n" . ($res->{request} // '') . "response:\n" . ($res->{raw} // '');
}

# Asserts a refusal: status, and the connection must not have been upgraded.
sub refused {
    my ($name, $want, %o) = @_;
    my ($ws, $res) = shake($o{path} // '/echo', %o);
    $res->{request} = $ws->{request};
    is($res->{status}, $want, "$name -> $want")
        or diag(show($res));
    return ($ws, $res);
}

# Echo round trip on an open connection.
sub echoes {
    my ($ws, $name) = @_;
    my $text = "ping-" . int(rand(1e9));
    $ws->send_text($text);
    my $m = $ws->read_message(10);
    ok($m && $m->{opcode} == OP_TEXT && $m->{payload} eq $text, $name)
        or diag('got ' . WSClient::describe($m));
}

# ------------------------------------------------------------ valid handshake
{
    my ($ws, $res) = shake('/echo');
    $res->{request} = $ws->{request};
    is($res->{status}, 101, 'valid handshake -> 101') or diag(show($res));
    is($res->{headers}{'sec-websocket-accept'}, $res->{accept_expected},
       'Sec-WebSocket-Accept is base64(SHA-1(key . GUID))');
    is(lc($res->{headers}{upgrade} // ''), 'websocket', 'Upgrade: websocket');
    ok(has_token($res->{headers}{connection}, 'upgrade'), 'Connection: Upgrade')
        or diag(show($res));
    ok(!exists $res->{headers}{'sec-websocket-protocol'},
       'no Sec-WebSocket-Protocol when none offered');
    ok(!exists $res->{headers}{'sec-websocket-extensions'},
       'no Sec-WebSocket-Extensions when none offered');
    is($ws->{buf}, '', 'nothing follows the 101 head before the first message');
    echoes($ws, 'the upgraded connection echoes');
}

# The RFC's own example key.
{
    my ($ws, $res) = shake('/echo', key => $SAMPLE_KEY);
    is($res->{status}, 101, 'RFC sample key -> 101') or diag(show($res));
    is($res->{headers}{'sec-websocket-accept'}, $SAMPLE_ACCEPT,
       'RFC sample key -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    is(accept_key($SAMPLE_KEY), $SAMPLE_ACCEPT, 'client-side accept computation agrees with the RFC');
}

# Header token lists and case.
for my $case (
    ['Connection: keep-alive, Upgrade', [Connection => 'keep-alive, Upgrade']],
    ['Connection: upgrade (lower case)', [Connection => 'upgrade']],
    ['Upgrade: WebSocket (mixed case)',  [Upgrade    => 'WebSocket']],
    ['Connection: Upgrade, keep-alive with tabs', [Connection => "Upgrade,\tkeep-alive"]],
) {
    my ($name, $hdr) = @$case;
    my ($ws, $res) = shake('/echo', headers => [$hdr]);
    $res->{request} = $ws->{request};
    is($res->{status}, 101, "$name -> 101") or diag(show($res));
    is($res->{headers}{'sec-websocket-accept'}, $res->{accept_expected},
       "$name: accept key");
}

# ------------------------------------------------------------ refusals
{
    my ($ws, $res) = refused('missing Upgrade header', 426,
                             headers => [[Upgrade => undef]]);
    ok(has_token($res->{headers}{upgrade}, 'websocket'),
       'missing Upgrade: the 426 says Upgrade: websocket') or diag(show($res));
}
{
    my ($ws, $res) = refused('plain GET /echo', 426,
                             headers => [[Upgrade => undef], [Connection => undef],
                                         ['Sec-WebSocket-Key' => undef],
                                         ['Sec-WebSocket-Version' => undef]]);
    ok(has_token($res->{headers}{upgrade}, 'websocket'),
       'plain GET: the 426 says Upgrade: websocket') or diag(show($res));
}
refused('POST with upgrade headers', 400, method => 'POST',
        headers => [['Content-Length' => 0]]);
refused('HTTP/1.0 upgrade request', 400, version => 'HTTP/1.0');
refused('missing Sec-WebSocket-Key', 400, key => undef);

for my $case (
    ['key of 10 bytes (short)',           'dGhlIHNhbXBsZQ=='],
    ['key of 17 bytes (long)',            encode_base64('x' x 17, '')],
    ['key of 32 bytes (long)',            encode_base64('y' x 32, '')],
    ['key with bad characters',           '!!!!!!!!!!!!!!!!!!!!!!=='],
    ['key in the URL-safe alphabet',      '-_-_-_-_-_-_-_-_-_-_-A=='],
    ['16-byte key without padding',       'dGhlIHNhbXBsZSBub25jZQ'],
    ['16-byte key with one = only',       'dGhlIHNhbXBsZSBub25jZQ='],
    ['key with an inner space',           'dGhlIHNhbXBs ZSBub25jZQ=='],
    ['empty key',                         ''],
) {
    my ($name, $key) = @$case;
    refused($name, 400, key => $key);
}

for my $case (
    ['Sec-WebSocket-Version: 8', [['Sec-WebSocket-Version' => '8']]],
    ['Sec-WebSocket-Version missing', [['Sec-WebSocket-Version' => undef]]],
    ['Sec-WebSocket-Version: 14', [['Sec-WebSocket-Version' => '14']]],
) {
    my ($name, $hdrs) = @$case;
    my ($ws, $res) = refused($name, 426, headers => $hdrs);
    is($res->{headers}{'sec-websocket-version'}, '13',
       "$name: the 426 says Sec-WebSocket-Version: 13") or diag(show($res));
}

refused('Connection: close only (Upgrade present)', 400,
        headers => [[Connection => 'close']]);
refused('/denied (Require all denied)', 403, path => '/denied');
refused('/test with X-Test-Reject: 403', 403, path => '/test',
        headers => [['X-Test-Reject' => '403']]);
refused('/test with X-Test-Reject: 429', 429, path => '/test',
        headers => [['X-Test-Reject' => '429']]);

# ------------------------------------------------------------ subprotocols
sub protocol_case {
    my ($name, $path, $offer, $want) = @_;
    my @hdr = defined $offer ? (headers => [['Sec-WebSocket-Protocol' => $offer]]) : ();
    my ($ws, $res) = shake($path, @hdr);
    $res->{request} = $ws->{request};
    is($res->{status}, 101, "$name: 101") or diag(show($res));
    if (defined $want) {
        is($res->{headers}{'sec-websocket-protocol'}, $want,
           "$name: Sec-WebSocket-Protocol: $want") or diag(show($res));
    }
    else {
        ok(!exists $res->{headers}{'sec-websocket-protocol'},
           "$name: no Sec-WebSocket-Protocol header") or diag(show($res));
    }
    return $ws;
}

sub protocol_command {
    my ($ws, $name, $want) = @_;
    $ws->send_text('protocol');
    my $m = $ws->read_message(10);
    is($m ? $m->{payload} : undef, $want, "$name: 'protocol' command says $want")
        or diag('got ' . WSClient::describe($m));
}

for my $case (
    ['offer chat',               'chat',               'chat'],
    ['offer bogus, superchat',   'bogus, superchat',   'superchat'],
    ['offer superchat, chat',    'superchat, chat',    'superchat'],
    ['offer bogus',              'bogus',              undef],
    ['no offer',                 undef,                undef],
) {
    my ($name, $offer, $want) = @$case;
    my $ws = protocol_case("/test $name", '/test', $offer, $want);
    protocol_command($ws, "/test $name", $want // '(none)');
}

# Two Sec-WebSocket-Protocol header lines are one list (RFC 6455 4.1, 7230 3.2.2).
{
    my ($ws, $res) = shake('/test', extra_headers => ['Sec-WebSocket-Protocol: bogus',
                                                      'Sec-WebSocket-Protocol: chat']);
    $res->{request} = $ws->{request};
    is($res->{status}, 101, 'two Sec-WebSocket-Protocol lines: 101') or diag(show($res));
    is($res->{headers}{'sec-websocket-protocol'}, 'chat',
       'two Sec-WebSocket-Protocol lines (bogus / chat): chat selected') or diag(show($res));
}

# /echo selects nothing even when offered.
{
    my $ws = protocol_case('/echo offered chat', '/echo', 'chat, superchat', undef);
    echoes($ws, '/echo offered chat: still echoes');
}

# ------------------------------------------------------------ extensions ignored
{
    my ($ws, $res) = shake('/echo', headers => [
        ['Sec-WebSocket-Extensions' => 'permessage-deflate; client_max_window_bits'],
    ]);
    $res->{request} = $ws->{request};
    is($res->{status}, 101, 'permessage-deflate offered: 101') or diag(show($res));
    ok(!exists $res->{headers}{'sec-websocket-extensions'},
       'permessage-deflate offered: no Sec-WebSocket-Extensions in the response')
        or diag(show($res));
    # An uncompressed message must come back uncompressed (RSV1 clear).
    my $text = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    $ws->send_text($text);
    my $m = $ws->read_message(10);
    ok($m && $m->{rsv} == 0 && $m->{payload} eq $text,
       'permessage-deflate offered: echo is plain (RSV1 clear)')
        or diag('got ' . WSClient::describe($m));
}

# Keys are trimmed like any header value: leading/trailing spaces are fine.
{
    my ($ws, $res) = shake('/echo', key => $SAMPLE_KEY,
                           headers => [['Sec-WebSocket-Key' => "  $SAMPLE_KEY  "]]);
    is($res->{status}, 101, 'key with surrounding spaces -> 101');
}

# The first frame sent in the same write as the request, before the 101:
# bytes read past the request must not be lost.
{
    my $ws = WSClient->new(port => WSClient::server_port());
    my $key = WSClient::random_key();
    my $req = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            . "Connection: Upgrade\r\nSec-WebSocket-Key: $key\r\n"
            . "Sec-WebSocket-Version: 13\r\n\r\n";
    my $frames = $ws->frame(opcode => OP_TEXT, payload => 'early bird')
               . $ws->frame(opcode => OP_TEXT, payload => 'second');
    $ws->send_raw($req . $frames);
    my $res = $ws->read_response;
    is($res->{status}, 101, 'request and first frames in one write: 101') or diag(show($res));
    my $m1 = $ws->read_message(10);
    my $m2 = $ws->read_message(10);
    is(join('|', map { $_ ? $_->{payload} : 'none' } $m1, $m2), 'early bird|second',
       'frames sent along with the request are echoed');
}

# A query string does not matter.
{
    my ($ws, $res) = shake('/echo?room=1&x=%20');
    is($res->{status}, 101, '/echo?query -> 101') or diag(show($res));
    echoes($ws, '/echo?query echoes');
}

# Two Sec-WebSocket-Key lines: the value is "k1, k2", not a valid key.
refused('two Sec-WebSocket-Key lines', 400,
        extra_headers => ['Sec-WebSocket-Key: ' . WSClient::random_key()]);

# A second request on a keep-alive connection after a refusal is plain HTTP;
# an upgrade there works too.
{
    my $ws = WSClient->new(port => WSClient::server_port());
    my $res = $ws->handshake(path => '/echo', headers => [['Sec-WebSocket-Version' => '8']]);
    is($res->{status}, 426, 'keep-alive: first request refused (426)');
    SKIP: {
        skip 'server closed the connection after the 426', 1
            if ($res->{headers}{connection} // '') =~ /close/i;
        my $res2 = $ws->handshake(path => '/echo');
        is($res2->{status}, 101, 'keep-alive: then an upgrade on the same connection -> 101')
            or diag(show($res2));
    }
}

# An absolute-form request target (https:// when the client talks TLS:
# the scheme of the connection it travels on).
{
    my $port = WSClient::server_port();
    my $scheme = WSClient::default_tls() ? 'https' : 'http';
    my ($ws, $res) = shake("$scheme://127.0.0.1:$port/echo");
    is($res->{status}, 101, "absolute URI $scheme://127.0.0.1:port/echo -> 101") or diag(show($res));
    echoes($ws, 'absolute URI: echoes');
}

# Locations without a WebSocketHandler are not touched by the module.
{
    my ($ws, $res) = shake('/');
    isnt($res->{status}, 101, 'upgrade request to / (no WebSocketHandler): not upgraded')
        or diag(show($res));
}
refused('HEAD with upgrade headers', 400, method => 'HEAD');
