package fulcrum_test

// flakyFront: a fault-injecting double in front of the real server. GetModelInfo and Recommend
// answer the first `failures` attempts with `code` (or wait until released, for deadlines) and
// forward the rest to the real `fulcrum serve`: it only makes the CLIENT's retries and
// deadlines observable; every successful answer comes from the real server.

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fulcrumv1 "github.com/fulcrumrec/fulcrum/clients/go/fulcrum/v1"
)

type flakyFront struct {
	fulcrumv1.UnimplementedRecommenderServer
	failures int
	code     codes.Code
	block    chan struct{} // non-nil: every attempt waits for it to close (or its deadline)

	mu       sync.Mutex
	attempts int
	upstream fulcrumv1.RecommenderClient
	target   string
}

func startFront(t *testing.T, upstream string, failures int, code codes.Code, block bool) *flakyFront {
	t.Helper()
	conn, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyFront{failures: failures, code: code, upstream: fulcrumv1.NewRecommenderClient(conn)}
	if block {
		f.block = make(chan struct{})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	fulcrumv1.RegisterRecommenderServer(server, f)
	go func() { _ = server.Serve(lis) }()
	f.target = lis.Addr().String()
	t.Cleanup(func() {
		f.unblock()
		server.Stop()
		_ = conn.Close()
	})
	return f
}

func (f *flakyFront) unblock() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.block != nil {
		close(f.block)
		f.block = nil
	}
}

func (f *flakyFront) Attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *flakyFront) attempt(ctx context.Context) error {
	f.mu.Lock()
	f.attempts++
	n, block := f.attempts, f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if n <= f.failures {
		return status.Errorf(f.code, "injected failure %d of %d", n, f.failures)
	}
	return nil
}

func (f *flakyFront) GetModelInfo(ctx context.Context, req *fulcrumv1.GetModelInfoRequest) (*fulcrumv1.ModelInfo, error) {
	if err := f.attempt(ctx); err != nil {
		return nil, err
	}
	return f.upstream.GetModelInfo(ctx, req)
}

func (f *flakyFront) Recommend(ctx context.Context, req *fulcrumv1.RecommendRequest) (*fulcrumv1.RecommendResponse, error) {
	if err := f.attempt(ctx); err != nil {
		return nil, err
	}
	return f.upstream.Recommend(ctx, req)
}
