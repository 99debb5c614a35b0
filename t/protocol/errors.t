# Protocol violations: each must get a close frame with the exact status code
# (RFC 6455 7.4.1) and then the TCP connection must close, without the
# client answering the close (the server fails the connection).  Also the
# limits of WebSocketMaxMessageSize, enforced before buffering.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes random_utf8 OP_CONT OP_TEXT OP_BINARY OP_CLOSE
                OP_PING OP_PONG);

my @BAD_CLOSE_CODES  = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535);
my @GOOD_CLOSE_CODES = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                        1012, 1013, 1014, 3000, 3999, 4000, 4999);
my @BAD_UTF8 = (
    ["\xC0\xAF",             'overlong / (C0 AF)'],
    ["\xC1\xBF",             'overlong (C1 BF)'],
    ["\xE0\x80\xAF",         'overlong 3-byte (E0 80 AF)'],
    ["\xF0\x80\x80\xAF",     'overlong 4-byte (F0 80 80 AF)'],
    ["\xED\xA0\x80",         'surrogate U+D800 (ED A0 80)'],
    ["\xED\xBF\xBF",         'surrogate U+DFFF (ED BF BF)'],
    ["\xF4\x90\x80\x80",     'above U+10FFFF (F4 90 80 80)'],
    ["\xF5\x80\x80\x80",     'F5 lead byte'],
    ["\xFF",                 'FF byte'],
    ["\x80",                 'lone continuation byte'],
    ["abc\xE2\x82",          'truncated 3-byte sequence at the end'],
    ["\xE2\x28\xA1",         'bad continuation (E2 28 A1)'],
);

# Tests per fail() call: 2 (code, EOF).
my $FAILS = 0;
$FAILS += 1 for 1 .. 8;           # unmasked, rsv1-3, opcodes 3 B 7 F
$FAILS += 6;                      # ping 126, fragmented ping, fragmented close,
                                  # continuation w/o start, new text inside
                                  # fragmented, new binary inside fragmented
$FAILS += 4;                      # 64-bit top bit, close 1 byte, pong 126,
                                  # close with a 124-byte reason
$FAILS += @BAD_CLOSE_CODES;
$FAILS += 1;                      # close reason invalid UTF-8
$FAILS += @BAD_UTF8;
$FAILS += 2;                      # bad UTF-8 in a continuation, fragment ends mid-char
$FAILS += 1;                      # fail fast on 1 MiB
$FAILS += 2;                      # /small 1025 text, binary
$FAILS += 1;                      # /small fragments
$FAILS += 2;                      # /small huge header, /echo 16 MiB+1 header

plan tests => $FAILS * 2 + @GOOD_CLOSE_CODES * 2 + 4 + 4 + 2 + 2;

sub open_ws {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path // '/echo', timeout => 10);
    die "handshake on " . ($path // '/echo') . " failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

# Sends $bytes on a fresh connection to $path and asserts the close code,
# then EOF (the client does not answer the close).
sub fails {
    my ($name, $code, $bytes, $path) = @_;
    my $ws = open_ws($path);
    $ws->send_raw($bytes);
    check_failed($ws, $name, $code);
}

sub check_failed {
    my ($ws, $name, $code) = @_;
    my $f = $ws->read_close(10);
    my $skipped = $f ? $f->{skipped} : $ws->{skipped};
    is($f ? $f->{code} : ($ws->{eof} ? "EOF ($ws->{eof}) without a close frame"
                                     : 'timeout: no close frame'),
       $code, "$name -> close $code")
        or diag('before it: ' . join('; ', map { WSClient::describe($_) } @{ $skipped || [] }));
    ok($ws->wait_eof(10), "$name: then TCP closed")
        or diag('connection still open 10 s after the close frame');
}

my $ws0 = WSClient->new(port => WSClient::server_port(), no_connect => 1);
sub F { $ws0->frame(@_) }

# ------------------------------------------------------------ framing
fails('unmasked text frame', 1002, F(opcode => OP_TEXT, payload => 'hello', mask => 0));
fails('RSV1 set', 1002, F(opcode => OP_TEXT, payload => 'hello', rsv => 4));
fails('RSV2 set', 1002, F(opcode => OP_TEXT, payload => 'hello', rsv => 2));
fails('RSV3 set', 1002, F(opcode => OP_TEXT, payload => 'hello', rsv => 1));
fails('reserved opcode 3', 1002, F(opcode => 3, payload => 'x'));
fails('reserved opcode 0xB', 1002, F(opcode => 0xB, payload => 'x'));
fails('reserved opcode 7', 1002, F(opcode => 7, payload => ''));
fails('reserved opcode 0xF', 1002, F(opcode => 0xF, payload => ''));

fails('ping with a 126-byte payload', 1002, F(opcode => OP_PING, payload => 'p' x 126));
fails('fragmented ping (FIN=0)', 1002,
      F(opcode => OP_PING, fin => 0, payload => 'a') . F(opcode => OP_CONT, payload => 'b'));
fails('fragmented close (FIN=0)', 1002,
      F(opcode => OP_CLOSE, fin => 0, payload => pack('n', 1000)));
fails('continuation without a start', 1002, F(opcode => OP_CONT, payload => 'orphan'));
fails('new text frame inside a fragmented message', 1002,
      F(opcode => OP_TEXT, fin => 0, payload => 'one') . F(opcode => OP_TEXT, payload => 'two'));
fails('new binary frame inside a fragmented text message', 1002,
      F(opcode => OP_TEXT, fin => 0, payload => 'one') . F(opcode => OP_BINARY, payload => 'two'));

fails('64-bit length with the top bit set', 1002,
      F(opcode => OP_BINARY, payload => '', raw_len64 => "\x80\0\0\0\0\0\0\x05"));
fails('close with a 1-byte payload', 1002, F(opcode => OP_CLOSE, payload => "\x03"));
fails('pong with a 126-byte payload', 1002, F(opcode => OP_PONG, payload => 'p' x 126));
fails('close with a 124-byte reason (payload 126)', 1002,
      F(opcode => OP_CLOSE, payload => pack('n', 1000) . ('r' x 124)));

for my $code (@BAD_CLOSE_CODES) {
    fails("close with code $code", 1002, F(opcode => OP_CLOSE, payload => pack('n', $code)));
}

# Valid codes: the server answers the close (echoing the code) and closes.
for my $code (@GOOD_CLOSE_CODES) {
    my $ws = open_ws();
    $ws->close($code, 'ok');
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : 'no close frame', $code, "close with valid code $code: echoed");
    ok($ws->wait_eof(10), "close with valid code $code: then TCP closed");
}

fails('close reason that is not UTF-8', 1007,
      F(opcode => OP_CLOSE, payload => pack('n', 1000) . "bad \xC0\xAF reason"));

# ------------------------------------------------------------ UTF-8
for my $case (@BAD_UTF8) {
    my ($bytes, $name) = @$case;
    fails("text with invalid UTF-8: $name", 1007, F(opcode => OP_TEXT, payload => $bytes));
}
fails('invalid UTF-8 in a continuation frame', 1007,
      F(opcode => OP_TEXT, fin => 0, payload => 'good ') . F(opcode => OP_CONT, payload => "\xED\xA0\x80"));
fails('message ending in the middle of a character (split over fragments)', 1007,
      F(opcode => OP_TEXT, fin => 0, payload => "ab\xE2") . F(opcode => OP_CONT, payload => "\x82"));

# Fail fast: a 1 MiB text frame whose start is invalid; only 100 bytes of
# its payload are ever sent.  The server must not wait for the rest.
{
    my $ws = open_ws();
    my $payload = "abc\xC0\xAF" . ('x' x (1024 * 1024 - 5));
    my $f = F(opcode => OP_TEXT, payload => $payload);
    my $hdr_len = 2 + 8 + 4;
    $ws->send_raw(substr($f, 0, $hdr_len + 100));
    check_failed($ws, 'fail fast: 1 MiB text frame with invalid UTF-8 in its first bytes, 100 bytes sent', 1007);
}

# Characters split across fragments are valid.
{
    my $ws = open_ws();
    my $text = "a\xE2\x82\xACb\xF0\x9F\x98\x80c\xC3\xA9";    # a€b😀cé
    $ws->send_frame(opcode => OP_TEXT, fin => 0, payload => "a\xE2");
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => "\x82");
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => "\xACb\xF0\x9F");
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => "\x98");
    $ws->send_frame(opcode => OP_CONT, fin => 1, payload => "\x80c\xC3\xA9");
    my $m = $ws->read_message(10);
    is($m ? $m->{opcode} : undef, OP_TEXT, 'multibyte characters split across fragments: echoed as text')
        or diag('got ' . WSClient::describe($m));
    is($m ? $m->{payload} : undef, $text, 'multibyte characters split across fragments: intact');

    # The same, one frame per byte.
    $ws->send_frame(opcode => ($_ == 0 ? OP_TEXT : OP_CONT), fin => ($_ == length($text) - 1 ? 1 : 0),
                    payload => substr($text, $_, 1)) for 0 .. length($text) - 1;
    $m = $ws->read_message(10);
    is($m ? $m->{payload} : undef, $text, 'text sent one byte per fragment: intact');
    # Non-characters and the extremes are valid UTF-8.
    my $edge = "\x00\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\xEF\xBF\xBE";
    $ws->send_text($edge);
    $m = $ws->read_message(10);
    is($m ? $m->{payload} : undef, $edge, 'boundary code points (U+0000, U+FFFF, U+10FFFF, U+FFFE) are valid');
}

# ------------------------------------------------------------ message size limits
{
    my $ws = open_ws('/small');
    my $t = random_utf8(1024);
    $ws->send_text($t);
    my $m = $ws->read_message(10);
    ok($m && $m->{payload} eq $t, '/small: 1024-byte text echoes')
        or diag('got ' . WSClient::describe($m));
    my $b = random_bytes(1024);
    $ws->send_binary($b);
    $m = $ws->read_message(10);
    ok($m && $m->{payload} eq $b, '/small: 1024-byte binary echoes')
        or diag('got ' . WSClient::describe($m));
    # 1024 bytes in fragments is fine too.
    $ws->send_frame(opcode => OP_BINARY, fin => 0, payload => substr($b, 0, 500));
    $ws->send_frame(opcode => OP_CONT, fin => 1, payload => substr($b, 500));
    $m = $ws->read_message(10);
    ok($m && $m->{payload} eq $b, '/small: 1024 bytes in two fragments echo')
        or diag('got ' . WSClient::describe($m));
    $ws->close(1000);
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1000, '/small: normal close after the size tests');
}

fails('/small: 1025-byte text message', 1009,
      F(opcode => OP_TEXT, payload => random_utf8(1025)), '/small');
fails('/small: 1025-byte binary message', 1009,
      F(opcode => OP_BINARY, payload => random_bytes(1025)), '/small');
fails('/small: fragments adding up to 1025 bytes', 1009,
      F(opcode => OP_BINARY, fin => 0, payload => random_bytes(500))
    . F(opcode => OP_CONT, fin => 0, payload => random_bytes(500))
    . F(opcode => OP_CONT, fin => 1, payload => random_bytes(25)), '/small');
# Only the header of a huge frame: the limit applies before any buffering.
fails('/small: header announcing 1 GiB, no payload', 1009,
      F(opcode => OP_BINARY, payload => '', length => 1024 * 1024 * 1024), '/small');
fails('/echo: header announcing 16 MiB + 1 (default limit), no payload', 1009,
      F(opcode => OP_BINARY, payload => '', length => 16 * 1024 * 1024 + 1));

# Limits do not apply to control frames' own 125-byte rule confusion:
# a 125-byte ping on /small is fine.
{
    my $ws = open_ws('/small');
    $ws->ping('p' x 125);
    my $f = $ws->read_frame(10);
    ok($f && $f->{opcode} == OP_PONG && $f->{payload} eq 'p' x 125, '/small: 125-byte ping answered');
    $ws->send_text('still here');
    $f = $ws->read_frame(10);
    ok($f && $f->{payload} eq 'still here', '/small: still echoes');
}

# A violation after valid traffic: the earlier echo arrived, then 1002.
{
    my $ws = open_ws();
    $ws->send_text('fine');
    my $m = $ws->read_message(10);
    is($m ? $m->{payload} : undef, 'fine', 'valid message before a violation echoes');
    $ws->send_raw(F(opcode => OP_TEXT, payload => 'unmasked', mask => 0));
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : undef, 1002, 'then an unmasked frame -> 1002');
}
