# permessage-deflate (RFC 7692) against the real server, frame by frame:
# the negotiation answers (every parameter, several offers, bad and
# repeated parameters, two header lines), compressed messages both ways
# (RSV1 on the first frame only, fragmented input, a handler's message in
# parts compressed part by part, short messages plain),
# context takeover on (dedicated mode: the second copy of a message is a
# back-reference; the handler thread's sends decode in order with one
# inflater) and off (shared mode: each message inflates alone), and the
# errors: a decompression bomb is closed with 1009 without the child's
# memory growing by the bomb, a corrupt stream and bad UTF-8 inside with
# 1007, RSV1 on a control frame or a continuation and RSV2 with 1002.
# Runs over ws:// and, again, over wss:// (scripts/run-tests.sh, step 3b).
# The client side is Perl's Compress::Raw::Zlib (raw deflate, as RFC 7692).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use Compress::Raw::Zlib qw(Z_OK Z_BUF_ERROR Z_STREAM_END Z_SYNC_FLUSH);
use WSClient qw(OP_CONT OP_TEXT OP_BINARY OP_PING);
use WSTestEnv ();

plan tests => 10 + 9 + 2 + 6 + 13;

my $TAIL = "\x00\x00\xff\xff";
my $JSON = join ',', map { qq({"id":$_,"type":"tick","symbol":"ACME","price":123.45}) } 1 .. 20;
$JSON = "[$JSON]";

sub new_deflater {
    my ($bits) = @_;
    my ($d, $st) = Compress::Raw::Zlib::Deflate->new(
        -WindowBits => -($bits // 15), -AppendOutput => 1);
    die "deflater: $st\n" unless $st == Z_OK;
    return $d;
}

sub new_inflater {
    my ($bits) = @_;
    my ($i, $st) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => -($bits // 15), -AppendOutput => 1, -ConsumeInput => 1);
    die "inflater: $st\n" unless $st == Z_OK;
    return $i;
}

# One message as a client compresses it: sync flush, the tail removed.
# keep 0: the deflater forgets it (client_no_context_takeover).
sub compress_msg {
    my ($d, $data, $keep) = @_;
    my $out = '';
    $d->deflate($data, $out) == Z_OK or die "deflate\n";
    $d->flush($out, Z_SYNC_FLUSH) == Z_OK or die "flush\n";
    $out =~ s/\x00\x00\xff\xff\z// or die "no sync-flush tail\n";
    $d->deflateReset unless $keep;
    return $out;
}

# The payload of a compressed message, inflated (undef if it is not a
# valid stream).
sub inflate_msg {
    my ($i, $data) = @_;
    my $in = $data . $TAIL;
    my $out = '';
    my $st = $i->inflate($in, $out);
    return ($st == Z_OK || $st == Z_BUF_ERROR || $st == Z_STREAM_END) ? $out : undef;
}

my $OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits';

sub open_at {
    my ($path, @offers) = @_;
    my ($ws, $res) = WSClient->open_ws($path, extra_headers => [@offers]);
    die "handshake on $path: $res->{status}\n$res->{raw}\n" unless $res->{status} == 101;
    return ($ws, $res->{headers}{'sec-websocket-extensions'});
}

# ---------------------------------------------------------------- negotiation
{
    my $answer = sub { (open_at(@_))[1] };
    is($answer->('/echo', $OFFER), undef,
       'WebSocketDeflate off (/echo): the offer is not answered');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: permessage-deflate'),
       'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
       'shared mode answers no context takeover for both sides');
    is($answer->('/deflate', $OFFER),
       'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15',
       'client_max_window_bits without a value is answered with one');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: x-webkit-deflate-frame, '
                 . 'permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=10'),
       'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10',
       'other extensions skipped, an unknown parameter declines its offer, the next one wins');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8'),
       undef, 'server_max_window_bits=8 (zlib cannot) is declined, the WebSocket still opens');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: permessage-deflate; '
                 . 'client_no_context_takeover; client_no_context_takeover'),
       undef, 'a repeated parameter declines the offer');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover=1'),
       undef, 'a value where none is allowed declines the offer');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=16'),
       undef, 'a window outside 8..15 declines the offer');
    is($answer->('/deflate', 'Sec-WebSocket-Extensions: x-foo',
                 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9'),
       'permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9',
       'offers on two header lines are read as one list; a smaller client window is kept');
    is($answer->('/deflate/dedicated', $OFFER),
       'permessage-deflate; server_max_window_bits=11; client_max_window_bits=15',
       'dedicated mode keeps context on both sides, with its smaller window');
}

# ---------------------------------------------------------------- shared mode
{
    my ($ws) = open_at('/deflate', $OFFER);
    my $d = new_deflater();
    my $z = compress_msg($d, $JSON, 0);
    $ws->send_frame(opcode => OP_TEXT, rsv => 4, payload => $z);
    my $m = $ws->read_message;
    is($m && $m->{rsv}, 4, 'the echo of a compressed text has RSV1');
    ok($m && length($m->{payload}) < length($JSON) / 3,
       'and is compressed on the wire (' . ($m ? length $m->{payload} : '?') . ' of ' . length($JSON) . ' bytes)');
    is($m && inflate_msg(new_inflater(), $m->{payload}), $JSON,
       'and inflates to the message sent');

    $ws->send_text($JSON);
    $m = $ws->read_message;
    is($m && inflate_msg(new_inflater(), $m->{payload}), $JSON,
       'an uncompressed message is accepted; its echo goes out compressed');

    $ws->send_text('short');
    $m = $ws->read_message;
    ok($m && $m->{rsv} == 0 && $m->{payload} eq 'short',
       'a message under WebSocketDeflateMinSize goes out plain');

    # Fragmented compressed input: RSV1 on the first frame only.
    $z = compress_msg($d, $JSON, 0);
    my $third = int(length($z) / 3);
    $ws->send_frame(opcode => OP_TEXT, rsv => 4, fin => 0, payload => substr($z, 0, $third));
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => substr($z, $third, $third));
    $ws->send_frame(opcode => OP_CONT, payload => substr($z, 2 * $third));
    $m = $ws->read_message;
    is($m && inflate_msg(new_inflater(), $m->{payload}), $JSON,
       'a compressed message in three frames is inflated whole');

    # Without context each message inflates alone (a fresh inflater each).
    my $ok = 0;
    for my $n (1 .. 5) {
        $ws->send_frame(opcode => OP_BINARY, rsv => 4, payload => compress_msg($d, "$n:$JSON", 0));
        my $r = $ws->read_message;
        $ok++ if $r && $r->{opcode} == OP_BINARY && $r->{rsv} == 4
                 && (inflate_msg(new_inflater(), $r->{payload}) // '') eq "$n:$JSON";
    }
    is($ok, 5, 'five binary messages, each compressed alone (server_no_context_takeover)');

    $ws->send_text('push 3');
    my @got = map { my $r = $ws->read_message; $r ? $r->{payload} : undef } 1 .. 3;
    is_deeply(\@got, ['push 1', 'push 2', 'push 3'], 'short pushes arrive plain, in order');
    $ws->close(1000);
    my $c = $ws->read_close;
    is($c && $c->{code}, 1000, 'the close handshake is unchanged');
}

# ---------------------------------------------------------------- parts
{
    # ws_send_part() x 3: RSV1 on the first frame only, the joined payloads
    # one compressed message.
    my ($ws) = open_at('/deflate/parts', $OFFER);
    my $hello = $ws->read_message;
    $ws->send_text('parts');
    my $m = $ws->read_message;
    ok($m && $m->{frames} == 3 && $m->{rsv} == 4 && !$m->{bad_continuation},
       'a message sent in three parts: three frames, RSV1 on the first');
    is($m && inflate_msg(new_inflater(), $m->{payload}), 'parts!',
       'its frames together inflate to the message');
    $ws->close(1000);
}

# ---------------------------------------------------------------- dedicated mode
{
    my ($ws) = open_at('/deflate/dedicated', $OFFER);
    my $d = new_deflater();
    my $inf = new_inflater(11);
    my @sizes;
    my $ok = 0;
    for my $n (1 .. 2) {
        $ws->send_frame(opcode => OP_TEXT, rsv => 4, payload => compress_msg($d, $JSON, 1));
        my $m = $ws->read_message;
        push @sizes, $m ? length $m->{payload} : 0;
        $ok++ if $m && $m->{rsv} == 4 && (inflate_msg($inf, $m->{payload}) // '') eq $JSON;
    }
    is($ok, 2, 'both copies inflate with one inflater kept across messages (window 11)');
    ok($sizes[1] < $sizes[0] / 4, "the second copy is a back-reference to the first ($sizes[1] vs $sizes[0] bytes)");

    my $z2 = compress_msg($d, $JSON, 1);
    ok(length($z2) < 40, 'the client kept its context too (' . length($z2) . ' bytes for a repeat)');
    $ws->send_frame(opcode => OP_TEXT, rsv => 4, payload => $z2);
    my $m = $ws->read_message;
    is($m && inflate_msg($inf, $m->{payload}), $JSON, 'and the server inflated it with its kept context');

    # Sent from the handler's own thread, compressed as they join the queue:
    # one inflater decodes them only if the order is kept.
    $ws->send_text('thread 30');
    my $good = 0;
    for my $n (1 .. 30) {
        my $r = $ws->read_message;
        last unless $r && $r->{rsv} == 4;
        last unless (inflate_msg($inf, $r->{payload}) // '') eq "thread $n";
        $good++;
    }
    is($good, 30, 'thirty messages from a handler thread, compressed with context, in order');
    $ws->close(1000);
    my $c = $ws->read_close;
    is($c && $c->{code}, 1000, 'closed cleanly');
}

# ---------------------------------------------------------------- errors
sub expect_close {
    my ($ws, $code, $what) = @_;
    my $c = $ws->read_close;
    is($c && $c->{code}, $code, "$what: closed with $code");
    ok($ws->wait_eof, "$what: then the connection ends");
}

my $pid_file = Apache::Test::vars('t_logs') . '/httpd.pid';
my $parent = do { open my $fh, '<', $pid_file or die "$pid_file: $!"; local $/; <$fh> };
chomp $parent;

sub children_hwm {   # { pid => VmHWM in KiB } of the server's children
    my %h;
    opendir my $dh, '/proc' or return {};
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $st, '<', "/proc/$pid/status" or next;
        my ($ppid, $hwm);
        while (<$st>) {
            $ppid = $1 if /^PPid:\s+(\d+)/;
            $hwm = $1 if /^VmHWM:\s+(\d+)/;
        }
        # A one-process server (make test-valgrind) is its own "child".
        my $ours = (defined $ppid && $ppid == $parent)
                   || (WSTestEnv::one_process() && $pid == $parent);
        $h{$pid} = $hwm if $ours && defined $hwm;
    }
    return \%h;
}

{
    # 50 MiB of zeros compress to ~50 KiB: under the 64 KiB message limit
    # on the wire, eight hundred times over it inflated.
    my $before = children_hwm();
    my ($ws) = open_at('/deflate', $OFFER);
    my $bomb = compress_msg(new_deflater(), "\0" x (50 * 1024 * 1024), 0);
    $ws->send_frame(opcode => OP_BINARY, rsv => 4, payload => $bomb);
    expect_close($ws, 1009, 'a decompression bomb (' . length($bomb) . ' bytes on the wire)');
    my $after = children_hwm();
    my $growth = 0;
    for my $pid (keys %$after) {
        my $g = $after->{$pid} - ($before->{$pid} // $after->{$pid});
        $growth = $g if $g > $growth;
    }
    SKIP: {
        skip "peak memory: meaningless under valgrind (its shadow memory and translations "
             . "are in the RSS)", 1 if WSTestEnv::valgrind();
        ok($growth < 16 * 1024, "no child's peak memory grew by the bomb (+$growth KiB)");
    }

    ($ws) = open_at('/deflate', $OFFER);
    $ws->send_frame(opcode => OP_BINARY, rsv => 4, payload => "\x07\xff\xff\xff garbage");
    expect_close($ws, 1007, 'a corrupt deflate stream');

    ($ws) = open_at('/deflate', $OFFER);
    $ws->send_frame(opcode => OP_TEXT, rsv => 4, payload => compress_msg(new_deflater(), "bad \xC0\xAF utf-8", 0));
    expect_close($ws, 1007, 'invalid UTF-8 inside a compressed text');

    ($ws) = open_at('/deflate', $OFFER);
    $ws->send_frame(opcode => OP_PING, rsv => 4, payload => 'x');
    expect_close($ws, 1002, 'RSV1 on a ping');

    ($ws) = open_at('/deflate', $OFFER);
    my $z = compress_msg(new_deflater(), $JSON, 0);
    $ws->send_frame(opcode => OP_TEXT, rsv => 4, fin => 0, payload => substr($z, 0, 10));
    $ws->send_frame(opcode => OP_CONT, rsv => 4, payload => substr($z, 10));
    expect_close($ws, 1002, 'RSV1 on a continuation frame');

    ($ws) = open_at('/deflate', $OFFER);
    $ws->send_frame(opcode => OP_TEXT, rsv => 2, payload => 'rsv2');
    expect_close($ws, 1002, 'RSV2 (no extension defines it)');
}
