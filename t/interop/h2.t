# WebSockets over HTTP/2 (RFC 8441): Debian's python3-h2 as a raw HTTP/2
# client over TLS + ALPN h2 to the suite's websocket_tls vhost (Protocols h2
# http/1.1, H2WebSockets on).  SETTINGS_ENABLE_CONNECT_PROTOCOL, a plain
# HTTP/2 GET /, extended CONNECT to /echo (200) and to /denied (403), masked
# WebSocket frames in DATA frames (text and binary of 0, 125, 126, 65535,
# 65536 bytes and 1 MiB), ping/pong, the close handshake with END_STREAM, and
# two WebSockets on one connection, one of them stalled by flow control
# while the other echoes 100 messages promptly.  Then permessage-deflate
# (RFC 7692) on extended CONNECT streams (t/clients/h2_deflate.py): the
# sec-websocket-extensions answer in the 200 (shared and dedicated mode, two
# header fields, server_max_window_bits=10), compressed texts echoed
# compressed (whole, also from three fragments with a ping between them),
# context takeover (the second copy a back-reference), a handler thread's
# sends inflating in order, the window kept across a final block (BFINAL),
# the agreed windows kept (strict inflater), and
# a decompression bomb closed with 1009 beside streams that stay open.
# Client: t/clients/h2_ws.py (one JSON line per check).
# mpm_event only: under prefork mod_http2 disables itself (advisory warning
# at startup), so the vhost speaks HTTP/1.1 only.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my @checks = (qw(alpn_h2 settings_connect_protocol get_root connect_200),
              (map { ("text_$_", "binary_$_") } 0, 125, 126, 65535, 65536, 1048576),
              qw(ping_pong close_1000 connect_denied_403 two_streams_open
                 stalled_stream_held other_stream_100_echoes stalled_stream_resumes
                 two_streams_close),
              qw(deflate_connect_200 deflate_text_compressed deflate_fragmented
                 deflate_two_fields deflate_dedicated_200 deflate_dedicated_context
                 deflate_dedicated_thread deflate_dedicated_window deflate_dedicated_bfinal
                 deflate_server_window_10 deflate_bomb_1009 deflate_close_1000));

my $mpm = InteropClient::loaded_mpm();
plan skip_all => "mod_http2 is inactive under mpm_$mpm (it needs a threaded MPM)"
    if $mpm eq 'prefork';

plan tests => 1 + @checks + 1;

my $ok_h2 = system(InteropClient::PYTHON, '-c', 'import h2.connection') == 0;
ok($ok_h2, 'Debian python3-h2 importable by ' . InteropClient::PYTHON)
    or diag('install it: apt-get install python3-h2 (scripts/deps.sh does)');

my $run = InteropClient::run(
    name    => 'h2',
    timeout => 90,     # each check is bounded to 20 s by the client itself
    cmd     => [InteropClient::PYTHON, InteropClient::client('h2_ws.py'),
                '--host', InteropClient::host(), '--port', InteropClient::tls_port()],
);
InteropClient::assert_checks($run, @checks);
InteropClient::assert_exit($run);
