package fulcrum_test

// Starting the real server for the tests: `python -m fulcrum.cli serve` on a free loopback port.
//
// Environment (tests/clients/test_client_go.py sets it; without it the tests that need a server skip):
//   GOCLIENT_PYTHON  the Python interpreter with Fulcrum installed (the project's .venv)
//   GOCLIENT_REPO    the repository root (the server's working directory)
//   GOCLIENT_BUNDLE  a bundle folder (tests/fixtures/minimal_bundle.py builds a tiny one)
//   GOCLIENT_CONFIG  a serving config listening on 127.0.0.1 port 0 in plaintext
//                    (tests/serve_process.py write_loopback_config)

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// serverTarget is "127.0.0.1:PORT" of the running server, "" when the environment is missing.
var serverTarget string

var portLine = regexp.MustCompile(`on port (\d+)`)

func TestMain(m *testing.M) {
	stop, err := startServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fulcrum serve:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func needServer(t *testing.T) string {
	t.Helper()
	if serverTarget == "" {
		t.Skip("GOCLIENT_PYTHON, GOCLIENT_REPO, GOCLIENT_BUNDLE and GOCLIENT_CONFIG not set: run through tests/clients/test_client_go.py")
	}
	return serverTarget
}

func startServer() (stop func(), err error) {
	python, repo := os.Getenv("GOCLIENT_PYTHON"), os.Getenv("GOCLIENT_REPO")
	bundle, config := os.Getenv("GOCLIENT_BUNDLE"), os.Getenv("GOCLIENT_CONFIG")
	if python == "" || repo == "" || bundle == "" || config == "" {
		return func() {}, nil
	}
	cmd := exec.Command(python, "-m", "fulcrum.cli", "serve", "--bundle", bundle, "--config", config)
	cmd.Dir = repo
	for _, kv := range os.Environ() { // FULCRUM_* would override the config file
		if !strings.HasPrefix(kv, "FULCRUM_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	ports := make(chan string, 1)
	var (
		mu   sync.Mutex
		seen strings.Builder // the server's first output, for the error message
	)
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return seen.String()
	}
	go func() { // keep reading: the server must never block on a full pipe
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			line := scanner.Text()
			if m := portLine.FindStringSubmatch(line); m != nil {
				select {
				case ports <- m[1]:
				default:
				}
			}
			mu.Lock()
			if seen.Len() < 20000 {
				seen.WriteString(line + "\n")
			}
			mu.Unlock()
		}
		close(ports)
	}()
	var port string
	select {
	case p, ok := <-ports:
		if !ok {
			stop()
			return nil, fmt.Errorf("exited before listening:\n%s", output())
		}
		port = p
	case <-time.After(120 * time.Second):
		stop()
		return nil, fmt.Errorf("did not report its port within 120 s:\n%s", output())
	}
	serverTarget = "127.0.0.1:" + port
	if err := waitServing(serverTarget, 120*time.Second); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// waitServing polls the health service until it answers SERVING or the deadline passes.
func waitServing(target string, within time.Duration) error {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reply, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil && reply.Status == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never reported SERVING (last: %v, %v)", target, reply, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
