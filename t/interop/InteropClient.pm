package InteropClient;

# Runs an interop client from t/clients (Python, Node or browser) against the
# Apache::Test server and turns its JSON result lines into TAP assertions.
#
# A client prints one JSON object per line on stdout:
#     {"check": "<name>", "ok": true|false, "detail": "...", "elapsed": <s>}
# (other JSON lines, like {"counts": {...}}, are kept in ->{extra}), writes
# diagnostics on stderr, and exits 0 only if every check passed.  The wrapper
# knows the names it expects, so a check that never reported (the client died
# or hung) fails too.  The child's runtime is bounded with coreutils'
# `timeout` (TERM at the limit, KILL 5 s later).
#
#   my $run = InteropClient::run(name => 'python', timeout => 120,
#                                cmd => [PYTHON, client('py_client.py'), '--port', port()]);
#   InteropClient::assert_checks($run, @expected_names);   # one ok() per name
#   InteropClient::assert_exit($run);                      # one ok()

use strict;
use warnings;

use WSTestEnv ();
use Apache::Test ();
use File::Spec ();
use File::Temp ();
use FindBin ();
use JSON::PP ();
use POSIX ();
use Test::More ();

use constant PYTHON   => '/usr/bin/python3';   # Debian's, with python3-websockets
use constant CHROMIUM => '/usr/bin/chromium';

sub clients_dir {
    File::Spec->rel2abs(File::Spec->catdir($FindBin::Bin, File::Spec->updir, 'clients'));
}

sub client { File::Spec->catfile(clients_dir(), $_[0]) }

sub node {
    return $ENV{NODE} if $ENV{NODE};
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/node" if -x "$d/node";
    }
    return '/usr/bin/node';
}

# Port of the Apache::Test server; clients always connect to 127.0.0.1.
sub port { Apache::Test::vars('port') }
# Port of its TLS vhost (<VirtualHost websocket_tls>: https, wss, h2).
sub tls_port { Apache::Test::vars('websocket_tls_port') }
sub host { '127.0.0.1' }

# The MPM the test server really loads: ask httpd itself with the suite's own
# arguments (-d/-f/-D defines), falling back to the PREFORK define.
sub loaded_mpm {
    my $cfg  = Apache::Test::config();
    my $vars = $cfg->{vars};
    my $args = eval { $cfg->server->args } // '';
    if ($vars->{httpd} && $args) {
        my $out = `$vars->{httpd} $args -t -D DUMP_MODULES 2>&1`;
        return $1 if $out =~ /^\s*mpm_(\w+)_module\b/m;
    }
    return ($vars->{defines} // '') =~ /\bPREFORK\b/ ? 'prefork' : 'event';
}

sub run {
    my %a = @_;
    my $timeout = $a{timeout} or die "timeout required";
    # Times WS_TEST_TIME_FACTOR (the clients read it too: t/lib/WSTestEnv.pm).
    $timeout = WSTestEnv::scaled($timeout);
    my @cmd = @{ $a{cmd} };
    my $err = File::Temp->new(TEMPLATE => 'interop-stderr-XXXXXX', TMPDIR => 1);
    my $t0 = time;

    my $pid = open(my $out, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open(STDIN,  '<',  '/dev/null');
        open(STDERR, '>&', $err) or die "stderr: $!";
        chdir clients_dir();
        exec('timeout', '-k', '5', $timeout, @cmd) or do {
            print STDERR "exec timeout @cmd: $!\n";
            POSIX::_exit(127);
        };
    }
    my (%results, @order, @extra, @garbage);
    my $json = JSON::PP->new;
    while (my $line = <$out>) {
        chomp $line;
        next unless length $line;
        my $rec = eval { $json->decode($line) };
        if (ref $rec eq 'HASH' && defined $rec->{check}) {
            my $ok = $rec->{ok} ? 1 : 0;    # JSON::PP::Boolean in boolean context
            $results{ $rec->{check} } = { ok => $ok, detail => $rec->{detail} // '',
                                          elapsed => $rec->{elapsed} };
            push @order, $rec->{check};
        }
        elsif (ref $rec eq 'HASH') {
            push @extra, $rec;
        }
        else {
            push @garbage, $line;
        }
    }
    close $out;
    my $status = $?;
    my $rc = $status >> 8;
    local $/;
    open(my $efh, '<', $err->filename);
    my $stderr = <$efh> // '';
    return {
        name      => $a{name} // $cmd[0],
        cmd       => \@cmd,
        status    => $status,
        exit      => $rc,
        timed_out => ($rc == 124 || $rc == 137 || ($status & 127) == 9) ? 1 : 0,
        timeout   => $timeout,
        seconds   => time - $t0,
        results   => \%results,
        order     => \@order,
        extra     => \@extra,
        garbage   => \@garbage,
        stderr    => $stderr,
    };
}

# One assertion per expected check name.
sub assert_checks {
    my ($run, @names) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %expected = map { $_ => 1 } @names;
    for my $name (@names) {
        my $r = $run->{results}{$name};
        if (!$r) {
            Test::More::ok(0, "$run->{name}: $name");
            Test::More::diag("  check '$name' never reported (client exit $run->{exit}"
                             . ($run->{timed_out} ? ", killed after $run->{timeout}s" : '') . ')');
            next;
        }
        Test::More::ok($r->{ok}, "$run->{name}: $name")
            or Test::More::diag("  $r->{detail}");
    }
    for my $name (@{ $run->{order} }) {
        next if $expected{$name};
        my $r = $run->{results}{$name};
        Test::More::diag("unexpected check '$name' (" . ($r->{ok} ? 'ok' : 'FAILED') . "): $r->{detail}");
    }
}

# One assertion: the client ran to completion within its bound and exited 0.
sub assert_exit {
    my ($run) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $desc = "$run->{name}: client exited 0 within $run->{timeout}s";
    my $ok = !$run->{timed_out} && $run->{status} == 0;
    Test::More::ok($ok, $desc) or do {
        Test::More::diag("  command: @{ $run->{cmd} }");
        Test::More::diag($run->{timed_out}
            ? "  killed: still running after $run->{timeout}s"
            : sprintf("  exit status %d (signal %d)", $run->{exit}, $run->{status} & 127));
        for my $name (@{ $run->{order} }) {
            my $r = $run->{results}{$name};
            Test::More::diag("  unexpected/failed '$name': $r->{detail}")
                if !$r->{ok};
        }
        my @g = @{ $run->{garbage} };
        splice(@g, 10) if @g > 10;
        Test::More::diag("  non-JSON output: $_") for @g;
        my $e = $run->{stderr};
        $e = '...' . substr($e, -4000) if length $e > 4000;
        Test::More::diag("  stderr:\n$e") if length $e;
    };
    return $ok;
}

1;
