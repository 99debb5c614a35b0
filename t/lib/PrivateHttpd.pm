package PrivateHttpd;

# A private httpd for tests that need a server shaped unlike the suite's
# own (several children, another MPM, a second "machine"): its own
# ServerRoot in a temporary directory, a free loopback port, the module
# from build/, started and always stopped by the test.
#
#   my $h = PrivateHttpd->new(name => 'a', mpm => 'event', children => 4,
#                             body => "WebSocketHandlerLoad ...\n<Location>...");
#   $h->port; $h->pid; $h->children; $h->error_log; $h->stop;
#   one_process => 1: httpd -X (one process, no children, in the
#   foreground: our own child), and after stop() $h->exit_status is its
#   wait status ($?).
#
# Every wait is bounded; stop() (also run at END) ends the server and its
# children, with SIGKILL if they do not go.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);

my $MODDIR = '/usr/lib/apache2/modules';
my @live;

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1)
        or die "PrivateHttpd: no free port: $!\n";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# Under `make test SANITIZE=1` httpd starts through the wrapper that
# preloads the ASan runtime (as the suite's own server does).
sub httpd_binary {
    my ($top) = @_;
    return $ENV{WS_ASAN_DIR} ? "$top/scripts/httpd-wrapper" : '/usr/sbin/apache2';
}

sub mpm_conf {
    my ($mpm, $children, $threads) = @_;
    # More than event's default ThreadLimit (64) threads need ThreadLimit.
    my $limit = $threads > 64 ? "ThreadLimit              $threads\n" : '';
    return <<"EVENT" if $mpm eq 'event';
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
${limit}StartServers             $children
ServerLimit              $children
MinSpareThreads          1
MaxSpareThreads          @{[ $children * $threads ]}
ThreadsPerChild          $threads
MaxRequestWorkers        @{[ $children * $threads ]}
AsyncRequestWorkerFactor 50
MaxConnectionsPerChild   0
EVENT
    return <<"PREFORK";
LoadModule mpm_prefork_module $MODDIR/mod_mpm_prefork.so
StartServers             $children
MinSpareServers          $children
MaxSpareServers          @{[ 2 * $children ]}
ServerLimit              @{[ 4 * $children ]}
MaxRequestWorkers        @{[ 4 * $children ]}
MaxConnectionsPerChild   0
PREFORK
}

sub new {
    my ($class, %o) = @_;
    my $top = $o{top} or die "PrivateHttpd: top (the checkout) required\n";
    my $self = bless {
        name => $o{name} || 'private', top => $top,
        mpm => $o{mpm} || 'event', children => $o{children} || 1,
        threads => $o{threads} || 10, port => free_port(),
        one_process => $o{one_process} ? 1 : 0,
    }, $class;
    $self->{dir} = tempdir("mod_websocket-$self->{name}-XXXXXX", TMPDIR => 1,
                           CLEANUP => !$ENV{WS_KEEP_PRIVATE});
    chmod 0755, $self->{dir};
    $self->{conf} = "$self->{dir}/httpd.conf";
    $self->{pidfile} = "$self->{dir}/httpd.pid";
    $self->write_conf($o{body} // '', $o{loglevel} || 'info');
    $self->start;
    push @live, $self;
    return $self;
}

sub write_conf {
    my ($self, $body, $loglevel) = @_;
    my ($dir, $top) = @$self{qw(dir top)};
    open my $fh, '>', $self->{conf} or die "$self->{conf}: $!\n";
    print $fh <<"CONF";
# PrivateHttpd $self->{name} ($self->{mpm}, $self->{children} children)
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$self->{port}
PidFile "$self->{pidfile}"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
DocumentRoot "$dir"
LogLevel $loglevel
User nobody
Group nogroup
@{[ mpm_conf($self->{mpm}, $self->{children}, $self->{threads}) ]}
LoadModule authn_core_module $MODDIR/mod_authn_core.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule authz_host_module $MODDIR/mod_authz_host.so
LoadModule status_module $MODDIR/mod_status.so
LoadModule websocket_module "$top/build/mod_websocket.so"
Timeout 30
ExtendedStatus On
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
$body
CONF
    close $fh;
}

sub start {
    my ($self) = @_;
    my $httpd = httpd_binary($self->{top});
    my $ulimit = 'ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ';
    my $rc = 0;
    if ($self->{one_process}) {            # httpd -X is this fork, exec'd
        defined(my $pid = fork) or die "PrivateHttpd: fork: $!\n";
        if (!$pid) {
            open STDIN, '<', '/dev/null';
            { exec '/bin/sh', '-c', $ulimit . 'exec "$0" -X -f "$1"', $httpd, $self->{conf} };
            POSIX::_exit(127);             # exec failed
        }
        $self->{pid} = $pid;
    }
    else {
        $rc = system('/bin/sh', '-c', $ulimit . 'exec "$0" -f "$1" -k start',
                     $httpd, $self->{conf});
    }
    my $deadline = time + 30;
    my $up;
    while (time < $deadline) {
        if (!$self->{pid} && -s $self->{pidfile} && open my $fh, '<', $self->{pidfile}) {
            ($self->{pid}) = (<$fh> // '') =~ /(\d+)/;
        }
        $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                    PeerPort => $self->{port}, Timeout => 1);
        last if $up && $self->{pid}
                 && ($self->{one_process} || $self->children >= $self->{children});
        select(undef, undef, undef, 0.1);
    }
    die "PrivateHttpd $self->{name} did not start (rc $rc):\n"
        . $self->log_tail(20) unless $up && $self->{pid};
}

# apachectl -k graceful: the children finish (WebSockets get 1001) and a
# new generation starts; the parent stays.
sub graceful {
    my ($self) = @_;
    return system('timeout', '20', httpd_binary($self->{top}), '-f', $self->{conf},
                  '-k', 'graceful') == 0;
}

sub port      { $_[0]{port} }
sub pid       { $_[0]{pid} }
sub error_log { "$_[0]{dir}/error_log" }

sub log_tail {
    my ($self, $n) = @_;
    return '' unless -r $self->error_log;
    open my $fh, '<', $self->error_log or return '';
    my @l = <$fh>;
    return join '', @l[($#l - $n + 1 < 0 ? 0 : $#l - $n + 1) .. $#l];
}

sub children {
    my ($self) = @_;
    my @kids;
    opendir my $d, '/proc' or return 0;
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $st, '<', "/proc/$pid/status" or next;
        while (<$st>) {
            if (/^PPid:\s+(\d+)/) { push @kids, $pid if $1 == ($self->{pid} // -1); last }
        }
    }
    return wantarray ? @kids : scalar @kids;
}

sub alive { my $p = shift; return $p && kill(0, $p) }

# Waits (bounded) for $pid to go; a child of ours is reaped, its wait
# status put in $$status.
sub wait_gone {
    my ($pid, $timeout, $status) = @_;
    my $deadline = time + $timeout;
    while (alive($pid) && time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $$status = $? if $status;
            last;
        }
        select(undef, undef, undef, 0.1);
    }
    return !alive($pid);
}

sub exit_status { $_[0]{exit_status} }

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && alive($self->{pid});
    my @kids = $self->children;
    system('timeout', '20', httpd_binary($self->{top}), '-f', $self->{conf}, '-k', 'stop');
    if (!wait_gone($self->{pid}, 15, \$self->{exit_status})) {
        kill 'KILL', $self->{pid}, @kids;
        wait_gone($self->{pid}, 5);
    }
    kill 'KILL', grep { alive($_) } @kids;
    $self->{pid} = undef;
}

END { local $?; $_->stop for @live }

1;
