package WSStats;

# The module's counters as tests read them: /server-status?auto parsed
# into whole-server, retired and per-child numbers, and a strict parser
# of the Prometheus text format (0.0.4) served by
# `SetHandler websocket-metrics`.
#
#   my $s = WSStats::auto($port);      # { total, retired, child, gen, raw }
#   my $m = WSStats::metrics($port);   # { ctype, samples, errors, raw }
#   WSStats::decreased($before, $after);  # counters that went down
#
# Plain HTTP/1.0 over loopback with a bounded read: works against the
# suite's server and against a PrivateHttpd alike.

use strict;
use warnings;

use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(time);

# Gauges: they may go down.  Every other whole-server number is a counter.
our %GAUGE = map { $_ => 1 } qw(WebSocketsOpen WebSocketPubSubLinksUp);

# ($status, \%headers, $body) of GET $path, or dies.
sub http_get {
    my ($port, $path, $timeout) = @_;
    $timeout //= 10;
    my $deadline = time + $timeout;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout)
        or die "WSStats: connect 127.0.0.1:$port: $@\n";
    print $s "GET $path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    my $sel = IO::Select->new($s);
    my $raw = '';
    while (1) {
        my $left = $deadline - time;
        die "WSStats: GET $path: no complete answer in ${timeout}s\n"
            if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, my $chunk, 65536);
        die "WSStats: GET $path: $!\n" unless defined $n;
        last if $n == 0;
        $raw .= $chunk;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    die "WSStats: GET $path: no status line\n" unless $status;
    my %h;
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return ($status, \%h, $body // '');
}

# { total => {field => n}, retired => {...}, child => {pid => {...}},
#   gen => {pid => generation}, children_retired => n, raw => text }
sub auto {
    my ($port) = @_;
    my ($status, undef, $body) = http_get($port, '/server-status?auto');
    die "WSStats: /server-status?auto: status $status\n" unless $status == 200;
    my %s = (raw => $body, total => {}, retired => {}, child => {}, gen => {});
    for my $line (split /\n/, $body) {
        if    ($line =~ /^Child(\d+)Generation: (\d+)$/)      { $s{gen}{$1} = $2 }
        elsif ($line =~ /^Child(\d+)(WebSocket\w+): (\d+)$/)  { $s{child}{$1}{$2} = $3 }
        elsif ($line =~ /^Retired(WebSocket\w+): (\d+)$/)     { $s{retired}{$1} = $2 }
        elsif ($line =~ /^WebSocketChildrenRetired: (\d+)$/)  { $s{children_retired} = $1 }
        elsif ($line =~ /^(WebSocket\w+): (\d+)$/)            { $s{total}{$1} = $2 }
    }
    return \%s;
}

# Whole-server counters (not gauges) lower in $after than in $before.
sub decreased {
    my ($before, $after) = @_;
    my @down;
    for my $f (sort keys %{ $before->{total} }) {
        next if $GAUGE{$f};
        my ($b, $a) = ($before->{total}{$f}, $after->{total}{$f} // -1);
        push @down, "$f: $b -> $a" if $a < $b;
    }
    return @down;
}

# Each whole-server number is the sum of the children's plus the
# retired children's: the list of those that are not.
sub inconsistent {
    my ($s) = @_;
    my @bad;
    for my $f (sort keys %{ $s->{total} }) {
        my $sum = $s->{retired}{$f} // 0;
        $sum += $_->{$f} // 0 for values %{ $s->{child} };
        push @bad, "$f: total $s->{total}{$f} != children + retired $sum"
            if $s->{total}{$f} != $sum;
    }
    return @bad;
}

my $NAME  = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LNAME = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $LVAL  = qr/"(?:[^"\\\n]|\\[\\"n])*"/;

# One sample line: (name, {label => value}, value) or () if malformed.
sub parse_sample {
    my ($line) = @_;
    return () unless $line =~ /^($NAME)(?:\{((?:$LNAME=$LVAL)(?:,$LNAME=$LVAL)*)?,?\})? (\S+)$/;
    my ($name, $labels, $value) = ($1, $2 // '', $3);
    return () unless $value =~ /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
    my %l;
    while ($labels =~ /($LNAME)=($LVAL)/g) {
        my ($k, $v) = ($1, substr($2, 1, -1));
        return () if exists $l{$k};
        $l{$k} = $v;
    }
    return ($name, \%l, $value);
}

# Strict reading of the text format: every line a HELP, a TYPE or a
# sample; each family's HELP and TYPE once, before its samples; a
# sample's name its family's (counters: name_total is the family);
# samples of one family together; no repeated series.
# { ctype, samples => [[name, {labels}, value]], type => {family => t},
#   errors => [...], raw }
sub metrics {
    my ($port, $path) = @_;
    my ($status, $h, $body) = http_get($port, $path // '/websocket-metrics');
    my %m = (status => $status, ctype => $h->{'content-type'}, raw => $body,
             samples => [], type => {}, help => {}, errors => []);
    my $err = sub { push @{ $m{errors} }, "line $_[0]: $_[1]" };
    my ($current, %done, %series);
    push @{ $m{errors} }, 'body does not end with a newline' unless $body =~ /\n\z/;
    my $n = 0;
    for my $line (split /\n/, $body) {
        $n++;
        if ($line =~ /^# HELP ($NAME) (.+)$/) {
            my $f = $1;
            $err->($n, "second HELP for $f") if $m{help}{$f}++;
            $err->($n, "HELP for $f after its samples") if $done{$f};
            $current = $f;
        }
        elsif ($line =~ /^# TYPE ($NAME) (counter|gauge|histogram|summary|untyped)$/) {
            my ($f, $t) = ($1, $2);
            $err->($n, "second TYPE for $f") if $m{type}{$f};
            $err->($n, "TYPE for $f without HELP first") unless $m{help}{$f};
            $m{type}{$f} = $t;
            $current = $f;
        }
        elsif ($line =~ /^#/ || $line eq '') {
            $err->($n, "unexpected line '$line'");
        }
        else {
            my ($name, $l, $v) = parse_sample($line);
            if (!defined $name) { $err->($n, "malformed sample '$line'"); next }
            my $fam = $name;
            $err->($n, "sample $name outside its family ($current)")
                unless defined $current && $fam eq $current;
            $err->($n, "$name: no TYPE") unless $m{type}{$fam};
            $err->($n, "$name: a counter's name must end in _total")
                if ($m{type}{$fam} // '') eq 'counter' && $name !~ /_total$/;
            $err->($n, "$name: negative or fractional value $v")
                unless $v =~ /^\d+$/;
            my $key = join ',', $name, map { "$_=$l->{$_}" } sort keys %$l;
            $err->($n, "repeated series $key") if $series{$key}++;
            $done{$fam} = 1;
            push @{ $m{samples} }, [$name, $l, $v];
        }
    }
    return \%m;
}

# The value of the one sample of name with exactly these labels, or undef.
sub sample {
    my ($m, $name, %labels) = @_;
    for my $s (@{ $m->{samples} }) {
        next unless $s->[0] eq $name && keys %{ $s->[1] } == keys %labels;
        next if grep { ($s->[1]{$_} // "\0") ne $labels{$_} } keys %labels;
        return $s->[2];
    }
    return undef;
}

1;
