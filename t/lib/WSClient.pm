package WSClient;

# A small raw-socket RFC 6455 client for the protocol tests.
#
# It does on purpose what a real client library never lets you do: omit or
# garble handshake headers, write frames with any FIN/RSV/opcode/mask/length
# field (including lengths that do not match the payload), write a frame one
# byte at a time, or stop in the middle of a frame.  Every read is bounded by
# a deadline (IO::Select); nothing sleeps.
#
#   my $ws = WSClient->new(port => $port);          # connects to 127.0.0.1
#   my $res = $ws->handshake(path => '/echo');      # { status, headers, ... }
#   $ws->send_text("hello");
#   my $m = $ws->read_message;                      # { opcode, payload }
#   $ws->close(1000, "bye");
#   my $f = $ws->read_frame;                        # close frame
#   $ws->wait_eof;                                  # TCP closed?
#
# Also: frame(%fields) builds any frame (fin, rsv, opcode, mask, mask_key,
# announced length, forced length encoding, raw 64-bit length field);
# send_raw() writes bytes; read_close() skips to the close frame;
# exchange() writes while reading (full duplex); abort() resets (RST).
# WSCLIENT_PORT=n points the client at a stand-in server instead of the
# Apache::Test one (to check the tests themselves).
#
# TLS (wss://): WSClient->new(tls => 1, ...) or, as the default of new()
# and open_ws(), the environment WS_TEST_TLS=1; open_ws() then connects to
# Apache::Test's TLS vhost (vars 'websocket_tls_port'; WSCLIENT_TLS_PORT
# overrides it like WSCLIENT_PORT).  IO::Socket::SSL, no certificate
# verification (the build's cert is self-signed), SNI "localhost", ALPN
# http/1.1 only (HTTP/2 WebSockets are t/clients/h2_ws.py's job), and the
# same non-blocking API as over TCP.  What differs underneath:
# - decrypted bytes can wait inside OpenSSL where select() does not see
#   them: every read drains ->pending before it waits again;
# - a non-blocking SSL read or write that cannot proceed fails with
#   EWOULDBLOCK and says in $IO::Socket::SSL::SSL_ERROR whether it waits
#   for readability or writability; the wait follows that, bounded as ever;
# - send_raw() hands bytes to OpenSSL, which sends them as records: the
#   server sees record boundaries, not our syscall boundaries;
# - abort() still resets TCP (SO_LINGER 0, no close_notify); disconnect()
#   closes TCP without close_notify (a vanishing client);
#   half_close() shuts down the TCP write side (shutdown(SHUT_WR)), which
#   the server's TLS layer sees as EOF.  ->tls says which mode a client is.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket ();
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);
use Errno qw(EAGAIN EWOULDBLOCK EINTR ECONNRESET EPIPE);
use Time::HiRes qw(time);
use Exporter 'import';
use WSTestEnv ();

our @EXPORT_OK = qw(accept_key random_key random_bytes random_utf8 has_token
                    OP_CONT OP_TEXT OP_BINARY OP_CLOSE OP_PING OP_PONG);

use constant GUID      => '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
use constant OP_CONT   => 0x0;
use constant OP_TEXT   => 0x1;
use constant OP_BINARY => 0x2;
use constant OP_CLOSE  => 0x8;
use constant OP_PING   => 0x9;
use constant OP_PONG   => 0xA;

# Every wait below is bounded: by the client's timeout (this default, or
# new(timeout => s)) or by a method's own timeout argument.  For a client
# of the suite's own server both are multiplied by WS_TEST_TIME_FACTOR
# (t/lib/WSTestEnv.pm; the valgrind run sets it, and that server is the
# one under valgrind), in new() and in _until(), nowhere else.  Clients
# of a private httpd (t/lib/PrivateHttpd.pm, which runs natively) wait as
# they always do.
our $DEFAULT_TIMEOUT = 10;

$SIG{PIPE} = 'IGNORE';

# ---------------------------------------------------------------- helpers

sub accept_key {
    my ($key) = @_;
    return encode_base64(sha1($key . GUID), '');
}

sub random_bytes {
    my ($n) = @_;
    # pack of random 32-bit words: fast enough for a few MiB
    my $words = int(($n + 3) / 4);
    my $s = pack('L*', map { int(rand(4294967296)) } 1 .. $words);
    return substr($s, 0, $n);
}

sub random_key { return encode_base64(random_bytes(16), '') }

# Random valid UTF-8 of exactly $n bytes, mixing 1-, 2-, 3- and 4-byte
# characters (no surrogates, nothing above U+10FFFF).  Returns bytes.
sub random_utf8 {
    my ($n) = @_;
    my @parts;
    my $len = 0;
    while ($len < $n) {
        my $left = $n - $len;
        my $kind = int(rand(4)) + 1;
        $kind = $left if $kind > $left;
        my $cp;
        if ($kind == 1)    { $cp = 0x20 + int(rand(0x5f)) }
        elsif ($kind == 2) { $cp = 0x80 + int(rand(0x800 - 0x80)) }
        elsif ($kind == 3) {
            do { $cp = 0x800 + int(rand(0x10000 - 0x800)) }
                while $cp >= 0xD800 && $cp <= 0xDFFF;
        }
        else { $cp = 0x10000 + int(rand(0x110000 - 0x10000)) }
        my $c = chr($cp);
        utf8::encode($c);
        push @parts, $c;
        $len += length $c;
    }
    return join '', @parts;
}

# TLS by default?  WS_TEST_TLS=1 (make test's wss:// run of t/protocol).
sub default_tls { return $ENV{WS_TEST_TLS} ? 1 : 0 }

# The server's port: WSCLIENT_PORT if set (to run a test file against a
# stand-in server without Apache::Test), else Apache::Test's configured port.
# server_port(1), or server_port() under WS_TEST_TLS=1, is the TLS vhost's
# port (WSCLIENT_TLS_PORT, else Apache::Test's websocket_tls_port).
sub server_port {
    my ($tls) = @_;
    $tls //= default_tls();
    return tls_port() if $tls;
    return $ENV{WSCLIENT_PORT} if $ENV{WSCLIENT_PORT};
    require Apache::Test;
    return Apache::Test::vars('port');
}

sub tls_port {
    return $ENV{WSCLIENT_TLS_PORT} if $ENV{WSCLIENT_TLS_PORT};
    require Apache::Test;
    my $port = Apache::Test::vars('websocket_tls_port')
        or die "WSClient: no TLS port (no websocket_tls vhost in t/conf/extra.conf.in?)\n";
    return $port;
}

# Connects and shakes hands: returns ($ws, $response) in list context, the
# client in scalar context.  Options go to handshake(), except tls (default
# WS_TEST_TLS), which picks the port and the transport.
sub open_ws {
    my ($class, $path, %o) = @_;
    my $tls = delete($o{tls}) // default_tls();
    my $ws = $class->new(port => server_port($tls), tls => $tls,
                         ($o{timeout} ? (timeout => $o{timeout}) : ()));
    my $res = $ws->handshake(path => $path, %o);
    $ws->{response} = $res;
    return wantarray ? ($ws, $res) : $ws;
}

# 1 if the comma-separated header value holds token (case-insensitive).
sub has_token {
    my ($value, $token) = @_;
    return 0 unless defined $value;
    return scalar grep { lc($_) eq lc($token) }
                  map { s/^[ \t]+|[ \t]+$//gr } split /,/, $value;
}

# ---------------------------------------------------------------- object

sub new {
    my ($class, %a) = @_;
    my $self = bless {
        host    => '127.0.0.1',
        port    => $a{port} || die("WSClient->new: port required\n"),
        factor  => _suite_port($a{port}) ? WSTestEnv::time_factor() : 1,
        buf     => '',
        eof     => 0,
        error   => undef,
        auto_pong => $a{auto_pong} // 1,
        rcvbuf  => $a{rcvbuf},        # SO_RCVBUF / SO_SNDBUF, set before
        sndbuf  => $a{sndbuf},        # connecting (plain TCP only)
        tls     => $a{tls} // default_tls(),
    }, $class;
    $self->{timeout} = ($a{timeout} || $DEFAULT_TIMEOUT) * $self->{factor};
    $self->connect unless $a{no_connect};
    return $self;
}

sub connect {
    my ($self) = @_;
    my $sock;
    if ($self->{tls}) {
        require IO::Socket::SSL;
        # Blocking connect and TLS handshake, both bounded by Timeout; the
        # socket goes non-blocking afterwards like the plain one.
        $sock = IO::Socket::SSL->new(
            PeerAddr        => $self->{host},
            PeerPort        => $self->{port},
            Proto           => 'tcp',
            Timeout         => $self->{timeout},
            SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
            SSL_hostname    => 'localhost',
            SSL_alpn_protocols => ['http/1.1'],
        ) or die "WSClient: cannot connect (TLS) to $self->{host}:$self->{port}: "
                 . ($IO::Socket::SSL::SSL_ERROR || $@ || $!) . "\n";
    }
    elsif ($self->{rcvbuf} || $self->{sndbuf}) {
        # Small buffers shape the TCP window only if set before connect.
        $sock = IO::Socket::INET->new(Proto => 'tcp') or die "WSClient: socket: $!\n";
        for ([Socket::SO_RCVBUF(), $self->{rcvbuf}], [Socket::SO_SNDBUF(), $self->{sndbuf}]) {
            next unless $_->[1];
            setsockopt($sock, Socket::SOL_SOCKET(), $_->[0], pack('i', $_->[1]))
                or die "WSClient: setsockopt: $!\n";
        }
        $sock->connect(Socket::pack_sockaddr_in($self->{port}, Socket::inet_aton($self->{host})))
            or die "WSClient: cannot connect to $self->{host}:$self->{port}: $!\n";
    }
    else {
        $sock = IO::Socket::INET->new(
            PeerAddr => $self->{host},
            PeerPort => $self->{port},
            Proto    => 'tcp',
            Timeout  => $self->{timeout},
        ) or die "WSClient: cannot connect to $self->{host}:$self->{port}: $@\n";
    }
    $sock->autoflush(1);
    binmode $sock;
    $sock->blocking(0);
    $self->{sock} = $sock;
    $self->{sel}  = IO::Select->new($sock);
    $self->{buf}  = '';
    $self->{eof}  = 0;
    return $self;
}

sub sock { $_[0]{sock} }
sub tls  { $_[0]{tls} }

# Closes the connection: a FIN, and over TLS no close_notify either (the
# client just goes away; the SSL object is freed without writing).
sub disconnect {
    my ($self) = @_;
    if (my $sock = delete $self->{sock}) {
        if ($self->{tls}) { $sock->close(SSL_no_shutdown => 1) }
        else              { CORE::close($sock) }
    }
}

# Abortive close (RST): SO_LINGER with a zero timeout (over TLS on the
# TCP socket under it: same RST, no close_notify).
sub abort {
    my ($self) = @_;
    return unless $self->{sock};
    setsockopt($self->{sock}, Socket::SOL_SOCKET(), Socket::SO_LINGER(),
               pack('ii', 1, 0));
    $self->disconnect;
}

# Half close: shutdown(SHUT_WR) of the TCP socket; reading goes on.  Over
# TLS that is the TCP write side under the TLS session (no close_notify):
# the server's TLS layer sees EOF, which is what a half-closing peer means.
sub half_close {
    my ($self) = @_;
    return unless $self->{sock};
    return shutdown($self->{sock}, 1);
}

# Decrypted bytes held inside OpenSSL, invisible to select().
sub _pending {
    my ($self) = @_;
    return 0 unless $self->{tls} && $self->{sock};
    return $self->{sock}->pending;
}

# After an EWOULDBLOCK: 'write' if the socket must become writable before
# the operation can go on (an SSL read may need to write), else 'read'...
# and for a plain socket: what the operation itself was.
sub _wants {
    my ($self, $op) = @_;
    return $op unless $self->{tls};
    my $e = $IO::Socket::SSL::SSL_ERROR;
    return 'write' if defined $e && $e == IO::Socket::SSL::SSL_WANT_WRITE();
    return 'read'  if defined $e && $e == IO::Socket::SSL::SSL_WANT_READ();
    return $op;
}

# Waits up to $left seconds for the socket to be ready for $what.
sub _wait {
    my ($self, $what, $left) = @_;
    $left = 0 if $left < 0;
    my $sel = IO::Select->new($self->{sock});
    return $what eq 'write' ? $sel->can_write($left) : $sel->can_read($left);
}

# One non-blocking read into the buffer.  Returns >0 (bytes added), 0 at
# EOF/reset/error (sets ->{eof}), or undef if it would block (then
# ->_wants('read') says what to wait for).  Over TLS it keeps reading
# while OpenSSL has bytes or records keep coming (up to 1 MiB), so that
# nothing is left where select() cannot see it.
sub _read_some {
    my ($self) = @_;
    my $total = 0;
    while (1) {
        my $n = sysread($self->{sock}, my $chunk, 256 * 1024);
        if (defined $n) {
            if ($n == 0) {
                return $total if $total;   # EOF: seen again on the next read
                $self->{eof} = 'eof';
                return 0;
            }
            $self->{buf} .= $chunk;
            $total += $n;
            return $total unless $self->{tls};
            next if $self->_pending || $total < 1024 * 1024;
            return $total;
        }
        if ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
            next if $! == EINTR && !$self->{tls};
            return $total ? $total : undef;
        }
        return $total if $total;
        if ($! == ECONNRESET) { $self->{eof} = 'reset' }
        elsif ($self->{tls} && !$!) {
            $self->{eof} = 'error: ' . ($IO::Socket::SSL::SSL_ERROR || 'SSL error');
        }
        else { $self->{eof} = "error: $!" }
        return 0;
    }
}

sub DESTROY { $_[0]->disconnect }

# The deadline of a wait of $timeout seconds (the client's own timeout if
# undef; it is already scaled), times the client's time factor.
sub _until {
    my ($self, $timeout) = @_;
    return time + (defined $timeout ? $timeout * $self->{factor} : $self->{timeout});
}

# 1 if $port is one of the suite's server's (plain or TLS), which the time
# factor is for.
sub _suite_port {
    my ($port) = @_;
    return 0 if WSTestEnv::time_factor() == 1;
    my @mine = grep { defined } eval { (server_port(0), tls_port()) };
    return scalar grep { $_ == $port } @mine;
}

# ---------------------------------------------------------------- raw I/O

# Writes all of $data within the timeout.  Returns the number of bytes
# written (less than length($data) if the peer closed or time ran out).
sub send_raw {
    my ($self, $data, $timeout) = @_;
    my $deadline = $self->_until($timeout);
    my $off = 0;
    my $len = length $data;
    while ($off < $len) {
        # (Over TLS a retry after EWOULDBLOCK passes the same bytes again,
        # as OpenSSL requires.)
        my $n = syswrite($self->{sock}, $data, $len - $off, $off);
        if (defined $n) {
            $off += $n;
            next;
        }
        if ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
            my $left = $deadline - time;
            last if $left <= 0;
            $self->_wait($self->_wants('write'), $left);
            next;
        }
        $self->{error} = "$!";
        last;
    }
    return $off;
}

# Reads what is available into the buffer, waiting up to the deadline for
# something.  Returns 1 if bytes arrived, 0 on EOF/reset, undef on timeout.
sub _fill {
    my ($self, $deadline) = @_;
    return 0 if $self->{eof};
    my $wants = 'read';
    while (1) {
        # Over TLS, bytes already decrypted are read without waiting.
        unless ($self->_pending) {
            my $left = $deadline - time;
            if (!$self->_wait($wants, $left)) {
                return undef if time >= $deadline;
                next;
            }
        }
        my $n = $self->_read_some;
        return 1 if $n;
        return 0 if defined $n;
        # Would block (over TLS e.g. only part of a record, or a session
        # ticket, arrived): wait again, for what OpenSSL needs.
        $wants = $self->_wants('read');
        return undef if time >= $deadline;
    }
}

# Returns exactly $n bytes, or undef (timeout, EOF: see ->{eof}).
sub read_bytes {
    my ($self, $n, $deadline) = @_;
    $deadline //= time + $self->{timeout};
    while (length($self->{buf}) < $n) {
        my $r = $self->_fill($deadline);
        return undef unless $r;
    }
    return substr($self->{buf}, 0, $n, '');
}

# ---------------------------------------------------------------- handshake

# Options:
#   path     (default '/echo')
#   method   (default 'GET')
#   version  (default 'HTTP/1.1')
#   key      (default: random valid key)
#   headers  array ref of [Name => value] pairs that replace the default
#            header of the same name (case-insensitive); value undef omits
#            that header; pairs with new names are appended.
#   extra_headers  array ref of raw header lines appended as they are
#            (e.g. a second line of the same header)
#   body     appended after the header block (for POST tests)
#   timeout
# Returns { status, reason, version, headers => { lc name => value },
#           header_list => [[name, value]...], raw, key, accept_expected }.
sub handshake {
    my ($self, %o) = @_;
    my $path    = $o{path}    // '/echo';
    my $method  = $o{method}  // 'GET';
    my $version = $o{version} // 'HTTP/1.1';
    my $key     = exists $o{key} ? $o{key} : random_key();

    my @hdr = (
        [Host                    => "$self->{host}:$self->{port}"],
        [Upgrade                 => 'websocket'],
        [Connection              => 'Upgrade'],
        ['Sec-WebSocket-Key'     => $key],
        ['Sec-WebSocket-Version' => '13'],
    );
    for my $pair (@{ $o{headers} || [] }) {
        my ($name, $value) = @$pair;
        my ($slot) = grep { lc($_->[0]) eq lc($name) } @hdr;
        if ($slot) { $slot->[1] = $value }
        else       { push @hdr, [$name, $value] }
    }
    my $req = "$method $path $version\r\n";
    for my $h (@hdr) {
        next unless defined $h->[1];
        $req .= "$h->[0]: $h->[1]\r\n";
    }
    $req .= "$_\r\n" for @{ $o{extra_headers} || [] };
    $req .= "\r\n";
    $req .= $o{body} if defined $o{body};
    $self->{request} = $req;
    $self->send_raw($req);
    my $res = $self->read_response(timeout => $o{timeout}, head => $method eq 'HEAD');
    $res->{key} = $key;
    $res->{accept_expected} = defined $key ? accept_key($key) : undef;
    return $res;
}

# Reads an HTTP response head (and, for a non-101 response with a
# Content-Length, its body, unless head => 1: the answer to a HEAD).
# Leftover bytes stay in the frame buffer.
sub read_response {
    my ($self, %o) = @_;
    my $deadline = $self->_until($o{timeout});
    my $idx;
    while (($idx = index($self->{buf}, "\r\n\r\n")) < 0) {
        my $r = $self->_fill($deadline);
        unless ($r) {
            return { status => 0, error => defined $r ? "closed ($self->{eof})"
                                                       : 'timeout',
                     raw => $self->{buf}, headers => {}, header_list => [] };
        }
    }
    my $head = substr($self->{buf}, 0, $idx + 4, '');
    my @lines = split /\r\n/, $head;
    my $status_line = shift @lines;
    my ($ver, $status, $reason) = $status_line =~ m{^(HTTP/\d\.\d)\s+(\d{3})\s*(.*)$};
    my (%h, @list);
    for my $l (@lines) {
        my ($n, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        push @list, [$n, $v];
        my $k = lc $n;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    my $res = { status => $status // 0, reason => $reason, version => $ver,
                headers => \%h, header_list => \@list, raw => $head };
    if (($status // 0) != 101 && !$o{head} && defined $h{'content-length'}
        && $h{'content-length'} =~ /^\d+$/) {
        my $body = $self->read_bytes($h{'content-length'}, $deadline);
        $res->{body} = $body;
    }
    return $res;
}

# ---------------------------------------------------------------- frames

# Builds one frame.  Options:
#   fin      (default 1)          rsv   (0..7, default 0)
#   opcode   (default OP_TEXT)    payload (bytes, default '')
#   mask     (default 1)          mask_key (4 bytes, default random)
#   length   announced payload length (default length(payload))
#   len_form force the length encoding: 7, 16 or 64
#   raw_len64 8 raw bytes for the 64-bit length field (for bad lengths)
sub frame {
    my ($self, %o) = @_;
    my $fin     = $o{fin} // 1;
    my $rsv     = $o{rsv} // 0;
    my $opcode  = $o{opcode} // OP_TEXT;
    my $payload = $o{payload} // '';
    my $mask    = $o{mask} // 1;
    my $len     = $o{length} // length $payload;

    my $b0 = ($fin ? 0x80 : 0) | (($rsv & 7) << 4) | ($opcode & 0xF);
    my $mbit = $mask ? 0x80 : 0;
    my $form = $o{len_form} // ($len < 126 ? 7 : $len < 65536 ? 16 : 64);
    $form = 64 if defined $o{raw_len64};
    my $hdr = chr($b0);
    if ($form == 7) {
        $hdr .= chr($mbit | $len);
    }
    elsif ($form == 16) {
        $hdr .= chr($mbit | 126) . pack('n', $len);
    }
    else {
        $hdr .= chr($mbit | 127)
              . ($o{raw_len64} // pack('NN', int($len / 4294967296),
                                       $len % 4294967296));
    }
    if ($mask) {
        my $key = $o{mask_key} // random_bytes(4);
        $hdr .= $key;
        $payload = _mask($payload, $key);
    }
    return $hdr . $payload;
}

sub _mask {
    my ($data, $key) = @_;
    return $data if $data eq '';
    my $n = length $data;
    my $k = $key x (int($n / 4) + 1);
    return $data ^ substr($k, 0, $n);
}

sub send_frame {
    my ($self, %o) = @_;
    my $f = $self->frame(%o);
    return $self->send_raw($f) == length $f;
}

sub send_text   { my ($s, $p, %o) = @_; $s->send_frame(opcode => OP_TEXT,   payload => $p, %o) }
sub send_binary { my ($s, $p, %o) = @_; $s->send_frame(opcode => OP_BINARY, payload => $p, %o) }
sub ping        { my ($s, $p, %o) = @_; $s->send_frame(opcode => OP_PING,   payload => $p // '', %o) }
sub pong        { my ($s, $p, %o) = @_; $s->send_frame(opcode => OP_PONG,   payload => $p // '', %o) }

sub close_payload {
    my ($code, $reason) = @_;
    return '' unless defined $code;
    return pack('n', $code) . ($reason // '');
}

# Sends a close frame; no code means an empty payload.
sub close {
    my ($self, $code, $reason, %o) = @_;
    return $self->send_frame(opcode => OP_CLOSE,
                             payload => close_payload($code, $reason), %o);
}

# Reads one frame.  Returns a hash { fin, rsv, opcode, masked, payload,
# length } (for a close frame also code/reason), or undef on timeout or
# EOF: then $self->{eof} tells which ('eof', 'reset', 'error: ...') and
# $self->{timed_out} is set on timeout.
sub read_frame {
    my ($self, $timeout) = @_;
    return $self->_read_frame_by($self->_until($timeout));
}

# read_frame() whose wait is NOT multiplied by WS_TEST_TIME_FACTOR: for a
# window measured against one of the server's own timers (a "nothing
# before WebSocketIdleTimeout" check), which the factor does not stretch.
sub poll_frame {
    my ($self, $seconds) = @_;
    return $self->_read_frame_by(time + $seconds);
}

sub _read_frame_by {
    my ($self, $deadline) = @_;
    $self->{timed_out} = 0;
    while (1) {
        my $f = $self->_parse_frame;
        return $f if $f;
        my $r = $self->_fill($deadline);
        unless ($r) {
            $self->{timed_out} = !defined $r;
            return undef;
        }
    }
}

# Takes one complete frame off the buffer, or returns undef if the buffer
# does not hold one yet.
sub _parse_frame {
    my ($self) = @_;
    my $avail = length $self->{buf};
    return undef if $avail < 2;
    my ($b0, $b1) = unpack('CC', $self->{buf});
    my $need = 2;
    my $len = $b1 & 0x7F;
    if ($len == 126) { $need += 2 }
    elsif ($len == 127) { $need += 8 }
    my $masked = $b1 & 0x80;
    $need += 4 if $masked;
    return undef if $avail < $need;
    my $pos = 2;
    if ($len == 126) { $len = unpack('n', substr($self->{buf}, 2, 2)); $pos = 4 }
    elsif ($len == 127) {
        my ($hi, $lo) = unpack('NN', substr($self->{buf}, 2, 8));
        $len = $hi * 4294967296 + $lo;
        $pos = 10;
    }
    my $total = $need + $len;
    return undef if $avail < $total;
    my $key = $masked ? substr($self->{buf}, $pos, 4) : undef;
    my $raw = substr($self->{buf}, 0, $total, '');
    my $payload = substr($raw, $need);
    $payload = _mask($payload, $key) if $masked;
    my $f = { fin => ($b0 >> 7) & 1, rsv => ($b0 >> 4) & 7, opcode => $b0 & 0xF,
              masked => $masked ? 1 : 0, length => $len, payload => $payload };
    if ($f->{opcode} == OP_CLOSE) {
        if (length($payload) >= 2) {
            $f->{code}   = unpack('n', $payload);
            $f->{reason} = substr($payload, 2);
        }
        else {
            $f->{code} = undef;
            $f->{reason} = '';
        }
    }
    return $f;
}

# Full duplex: writes $data (any number of frames) while reading, until
# $count data messages have arrived (or a close frame, EOF, the deadline,
# or $idle seconds (default 10) without a byte moving either way).
# Returns { written => bytes, messages => [ {opcode, payload} ... ],
#           controls => [frames], close => frame or undef }.
sub exchange {
    my ($self, $data, $count, $timeout, $idle) = @_;
    my $deadline = $self->_until($timeout);
    # give up after this long without progress
    $idle = WSTestEnv::scaled($idle // 10);
    my $progress = time;
    my $sock = $self->{sock};
    my ($off, $len) = (0, length $data);
    my (@msgs, @controls, $cur, $close);
    my ($rwant, $wwant) = ('read', 'write');
    while (1) {
        while (my $f = $self->_parse_frame) {
            if ($f->{opcode} >= 0x8) {
                push @controls, $f;
                if ($f->{opcode} == OP_CLOSE) { $close = $f; last }
                next;
            }
            if (!$cur) { $cur = { opcode => $f->{opcode}, payload => $f->{payload} } }
            else       { $cur->{payload} .= $f->{payload} }
            if ($f->{fin}) { push @msgs, $cur; undef $cur }
        }
        last if $close || $self->{eof};
        last if @msgs >= $count && $off >= $len;
        my $left = $deadline - time;
        $left = $progress + $idle - time if $progress + $idle - time < $left;
        last if $left <= 0;
        # What each direction waits for: over TLS a read may need the
        # socket writable and a write readable ($rwant / $wwant).
        my $pending = $self->_pending;
        my $want_r = $rwant eq 'read' || ($off < $len && $wwant eq 'read');
        my $want_w = ($off < $len && $wwant eq 'write') || $rwant eq 'write';
        my ($r, $w) = IO::Select->select($want_r ? $self->{sel} : undef,
                                         $want_w ? IO::Select->new($sock) : undef,
                                         undef, $pending ? 0 : $left);
        if ($off < $len && ($wwant eq 'write' ? $w && @$w : $r && @$r)) {
            # The same length on a retry after EWOULDBLOCK (OpenSSL wants
            # the same bytes again): it depends only on $off and $len.
            my $n = syswrite($sock, $data, 65536 < $len - $off ? 65536 : $len - $off, $off);
            if (defined $n) { $off += $n; $progress = time; $wwant = 'write' }
            elsif ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR) {
                $wwant = $self->_wants('write');
            }
            else {
                $self->{error} = "$!";
                $len = $off;       # stop writing
            }
        }
        if ($pending || ($rwant eq 'write' ? $w && @$w : $r && @$r)) {
            my $n = $self->_read_some;
            if ($n) { $progress = time; $rwant = 'read' }
            elsif (!defined $n) { $rwant = $self->_wants('read') }
        }
    }
    return { written => $off, messages => \@msgs, controls => \@controls,
             close => $close };
}

sub _peek {
    my ($self, $n, $deadline) = @_;
    while (length($self->{buf}) < $n) {
        my $r = $self->_fill($deadline);
        return undef unless $r;
    }
    return substr($self->{buf}, 0, $n);
}

# Reads the next message.  Control frames are returned as they come (with
# their opcode); data frames are assembled into one message
# { opcode, payload, frames => n }.  Control frames that arrive between
# fragments are collected in ->{controls} of the returned message.
# undef on timeout/EOF.
sub read_message {
    my ($self, $timeout) = @_;
    my $deadline = $self->_until($timeout);
    my $f;
    while (1) {
        $f = $self->_read_frame_by($deadline) // return undef;
        last unless $f->{opcode} == OP_PING && $self->{auto_pong};
        $self->_auto_pong($f);
    }
    return $f if $f->{opcode} >= 0x8;
    my $msg = { opcode => $f->{opcode}, payload => $f->{payload}, frames => 1,
                controls => [], rsv => $f->{rsv}, masked => $f->{masked} };
    while (!$f->{fin}) {
        $f = $self->_read_frame_by($deadline) // return undef;
        if ($f->{opcode} >= 0x8) {
            if ($f->{opcode} == OP_PING && $self->{auto_pong}) {
                $self->_auto_pong($f);
                next;
            }
            push @{ $msg->{controls} }, $f;
            next;
        }
        $msg->{bad_continuation} = 1 if $f->{opcode} != OP_CONT;
        $msg->{payload} .= $f->{payload};
        $msg->{frames}++;
    }
    return $msg;
}

# Server pings met by read_message() are answered and skipped (a server
# may ping on its own, e.g. a keepalive interval); read_frame() returns
# everything as it comes.
sub _auto_pong {
    my ($self, $ping) = @_;
    push @{ $self->{server_pings} }, $ping->{payload};
    $self->pong($ping->{payload});
}

# Waits for the peer to close TCP.  Returns 'eof' or 'reset' when it did,
# undef on timeout.  Bytes that arrive meanwhile are kept in ->{buf}
# (frames can still be read from it afterwards).
sub wait_eof {
    my ($self, $timeout) = @_;
    my $deadline = $self->_until($timeout);
    while (!$self->{eof}) {
        my $r = $self->_fill($deadline);
        return undef if !defined $r;
    }
    return $self->{eof} =~ /^(eof|reset)$/ ? $self->{eof} : undef;
}

# Reads frames until a close frame arrives; data frames and other control
# frames before it are returned in ->{skipped}.  Returns the close frame or
# undef.
sub read_close {
    my ($self, $timeout) = @_;
    my $deadline = $self->_until($timeout);
    my @skipped;
    while (1) {
        my $f = $self->_read_frame_by($deadline);
        if (!$f) {
            $self->{skipped} = \@skipped;
            return undef;
        }
        if ($f->{opcode} == OP_CLOSE) {
            $f->{skipped} = \@skipped;
            return $f;
        }
        push @skipped, $f;
    }
}

# A readable summary of a frame, for test diagnostics.
sub describe {
    my ($f) = @_;
    return 'nothing (timeout or EOF)' unless $f;
    my $p = $f->{payload} // '';
    my $shown = length($p) > 40 ? substr($p, 0, 40) . '...' : $p;
    $shown =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    my $s = sprintf('opcode=%d fin=%d rsv=%d len=%d payload="%s"',
                    $f->{opcode}, $f->{fin} // 1, $f->{rsv} // 0,
                    length $p, $shown);
    $s .= " code=" . ($f->{code} // 'none') if $f->{opcode} == OP_CLOSE;
    return $s;
}

1;
