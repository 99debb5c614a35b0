# Data frames: text and binary echo across the length encodings (7-bit,
# 16-bit, 64-bit), fragmentation with an interleaved ping, pipelining, and a
# frame trickled in one byte per write.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes random_utf8 OP_CONT OP_TEXT OP_BINARY OP_PING OP_PONG);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes ();

my @SIZES = (0, 1, 125, 126, 127, 65535, 65536, 65537, 1024 * 1024);

plan tests => 2 + @SIZES * 4 + 4 + 2 + 2 + 2 + 1 + 2;

sub open_echo {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path // '/echo', timeout => 10);
    die "handshake on " . ($path // '/echo') . " failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

sub first_diff {
    my ($got, $want) = @_;
    return 'got nothing' unless defined $got;
    my $n = length($got) < length($want) ? length($got) : length($want);
    for my $i (0 .. $n - 1) {
        return "first difference at byte $i"
            if substr($got, $i, 1) ne substr($want, $i, 1);
    }
    return sprintf('lengths differ: got %d, want %d', length $got, length $want);
}

my $ws = open_echo();

# Server frames: unmasked, RSV clear.
{
    $ws->send_text('hello');
    my $f = $ws->read_frame(10);
    ok($f && !$f->{masked} && $f->{rsv} == 0 && $f->{fin} == 1,
       'server frames are unmasked, FIN set, RSV clear')
        or diag('got ' . WSClient::describe($f));
    is($f ? $f->{payload} : undef, 'hello', 'short text echo');
}

for my $size (@SIZES) {
    my $text = random_utf8($size);
    $ws->send_text($text);
    my $m = $ws->read_message(10);
    is($m ? $m->{opcode} : undef, OP_TEXT, "text of $size bytes: opcode text");
    ok($m && $m->{payload} eq $text, "text of $size bytes: payload intact")
        or diag(first_diff($m && $m->{payload}, $text));

    my $bin = random_bytes($size);
    $ws->send_binary($bin);
    $m = $ws->read_message(10);
    is($m ? $m->{opcode} : undef, OP_BINARY, "binary of $size bytes: opcode binary");
    ok($m && $m->{payload} eq $bin, "binary of $size bytes: payload intact")
        or diag(first_diff($m && $m->{payload}, $bin));
}

# A text message in three fragments, a ping between the first two.
{
    my $text = random_utf8(3000);
    my ($p1, $p2, $p3) = (substr($text, 0, 1000), substr($text, 1000, 1000),
                          substr($text, 2000));
    # cut on byte boundaries: fragments may split characters (valid per RFC)
    $ws->send_frame(opcode => OP_TEXT, fin => 0, payload => $p1);
    $ws->ping('between fragments');
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => $p2);
    $ws->send_frame(opcode => OP_CONT, fin => 1, payload => $p3);

    my $f = $ws->read_frame(10);
    is($f ? $f->{opcode} : undef, OP_PONG, 'ping between fragments: a pong comes first')
        or diag('got ' . WSClient::describe($f));
    is($f ? $f->{payload} : undef, 'between fragments', 'pong carries the ping payload');
    my $m = $ws->read_message(10);
    is($m ? $m->{opcode} : undef, OP_TEXT, 'fragmented text: echoed as text');
    ok($m && $m->{payload} eq $text, 'fragmented text: payload intact')
        or diag(first_diff($m && $m->{payload}, $text));
}

# Binary in fragments, one of them empty.
{
    my $bin = random_bytes(5000);
    $ws->send_frame(opcode => OP_BINARY, fin => 0, payload => substr($bin, 0, 10));
    $ws->send_frame(opcode => OP_CONT,   fin => 0, payload => '');
    $ws->send_frame(opcode => OP_CONT,   fin => 1, payload => substr($bin, 10));
    my $m = $ws->read_message(10);
    is($m ? $m->{opcode} : undef, OP_BINARY, 'fragmented binary with an empty fragment: binary');
    ok($m && $m->{payload} eq $bin, 'fragmented binary with an empty fragment: payload intact')
        or diag(first_diff($m && $m->{payload}, $bin));
}

# 100 frames in one write, echoed in order.
{
    my @msgs = map { "message $_ " . ('x' x ($_ % 17)) } 1 .. 100;
    my $all = join '', map { $ws->frame(opcode => OP_TEXT, payload => $_) } @msgs;
    is($ws->send_raw($all), length $all, '100 frames written in one syswrite');
    my @got;
    for (1 .. 100) {
        my $m = $ws->read_message(10) or last;
        push @got, $m->{payload};
    }
    is_deeply(\@got, \@msgs, '100 pipelined frames echoed in order');
}

# A frame written one byte per syscall, Nagle off, paced so the bytes travel
# in separate segments.
{
    setsockopt($ws->sock, IPPROTO_TCP, TCP_NODELAY, 1);
    my $f = $ws->frame(opcode => OP_TEXT, payload => 'one byte at a time');
    for my $i (0 .. length($f) - 1) {
        $ws->send_raw(substr($f, $i, 1));
        Time::HiRes::sleep(0.005);
    }
    my $m = $ws->read_message(10);
    is($m ? $m->{payload} : undef, 'one byte at a time', 'frame trickled one byte per write echoes');

    # A 16-bit-length binary frame, one byte per write, unpaced.
    my $bin = random_bytes(300);
    $f = $ws->frame(opcode => OP_BINARY, payload => $bin);
    $ws->send_raw(substr($f, $_, 1)) for 0 .. length($f) - 1;
    $m = $ws->read_message(10);
    ok($m && $m->{opcode} == OP_BINARY && $m->{payload} eq $bin,
       '300-byte binary frame written one byte per write echoes')
        or diag('got ' . WSClient::describe($m));
}

# One message whose frames use the three length encodings in turn.
{
    my $bin = random_bytes(70000);
    $ws->send_frame(opcode => OP_BINARY, fin => 0, payload => substr($bin, 0, 100));
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => substr($bin, 100, 1000));
    $ws->send_frame(opcode => OP_CONT, fin => 1, payload => substr($bin, 1100));
    my $m = $ws->read_message(10);
    ok($m && $m->{opcode} == OP_BINARY && $m->{payload} eq $bin,
       'message of 7-bit, 16-bit and 64-bit frames echoes intact')
        or diag(first_diff($m && $m->{payload}, $bin));
}

# The connection is still sound: close it properly.
{
    $ws->close(1000);
    my $f = $ws->read_close(10);
    is($f ? $f->{code} : 'no close frame', 1000, 'closing after the echo tests: close 1000 back');
    ok($ws->wait_eof(10), 'then TCP closes');
}
