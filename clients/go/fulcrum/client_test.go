package fulcrum_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/fulcrumrec/fulcrum/clients/go/fulcrum"
	fulcrumv1 "github.com/fulcrumrec/fulcrum/clients/go/fulcrum/v1"
)

func newClient(t *testing.T, target string, opts ...grpc.DialOption) *fulcrum.Client {
	t.Helper()
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	c, err := fulcrum.New(target, all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func withPolicy(t *testing.T, p fulcrum.Policy) grpc.DialOption {
	t.Helper()
	config, err := fulcrum.ServiceConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithDefaultServiceConfig(config)
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func event(id, user, item string, kind fulcrumv1.EventType, tsMs int64) *fulcrumv1.Event {
	return &fulcrumv1.Event{
		EventId: id, Type: kind, UserId: user, ItemId: item, Quantity: 1, Price: 2.5, TimestampMs: tsMs,
	}
}

func TestEveryRPCAgainstTheRealServer(t *testing.T) {
	c := newClient(t, needServer(t))

	info, err := c.GetModelInfo(timeout(t, 10*time.Second), &fulcrumv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetApiVersion() != "fulcrum.v1" || info.GetBundleVersion() == "" || info.GetCatalogueSize() != 40 {
		t.Fatalf("GetModelInfo: %v", info)
	}

	now := time.Now().UnixMilli()
	stream, err := c.IngestEvents(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*fulcrumv1.Event{
		event("go-1", "go-user", "sku-001", fulcrumv1.EventType_PURCHASE, now),
		event("go-2", "go-user", "sku-002", fulcrumv1.EventType_VIEW, now),
		event("go-bad", "go-user", "sku-003", fulcrumv1.EventType_VIEW, now/1000), // seconds, not ms
	} {
		if err := stream.Send(e); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
	summary, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if summary.GetAccepted() != 2 || summary.GetRejected() != 1 || summary.GetDuplicates() != 0 {
		t.Fatalf("IngestEvents: %v", summary)
	}
	if r := summary.GetRejections()[0]; r.GetEventId() != "go-bad" || !strings.HasPrefix(r.GetReason(), "timestamp_ms:") {
		t.Fatalf("rejection: %v", r)
	}

	reply, err := c.Recommend(timeout(t, 10*time.Second), &fulcrumv1.RecommendRequest{UserId: "go-user", K: 5})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, item := range reply.GetItems() {
		ids = append(ids, item.GetItemId())
	}
	sort.Strings(ids)
	if len(ids) != 5 || len(slices.Compact(slices.Clone(ids))) != 5 || slices.Contains(ids, "sku-001") {
		t.Fatalf("Recommend: 5 distinct items without the one just bought, got %v", ids)
	}
	if reply.GetBundleVersion() != info.GetBundleVersion() || reply.GetDegraded() {
		t.Fatalf("Recommend: %v", reply)
	}

	found, err := c.Search(timeout(t, 10*time.Second), &fulcrumv1.SearchRequest{
		Query: "red candle", K: 3, Filters: &fulcrumv1.SearchFilters{MaxPrice: proto.Float64(4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(found.GetItems()); n == 0 || n > 3 {
		t.Fatalf("Search: %v", found)
	}
	for _, item := range found.GetItems() {
		if item.GetReason() != fulcrumv1.Reason_QUERY_MATCH {
			t.Fatalf("Search reason: %v", item)
		}
	}
}

func TestInvalidArgumentNamesTheFieldAndEchoesTheRequestID(t *testing.T) {
	c := newClient(t, needServer(t))
	ctx := metadata.AppendToOutgoingContext(timeout(t, 10*time.Second), fulcrum.RequestIDHeader, "go-k0")
	var trailer metadata.MD
	_, err := c.Recommend(ctx, &fulcrumv1.RecommendRequest{UserId: "u-1", K: 0}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	if field, ok := fulcrum.InvalidField(err); !ok || field != "k" {
		t.Fatalf("InvalidField = %q, %v (%v)", field, ok, err)
	}
	if got := trailer.Get(fulcrum.RequestIDHeader); len(got) != 1 || got[0] != "go-k0" {
		t.Fatalf("request id in the trailer: %v", got)
	}
	if fulcrum.Retryable(err) {
		t.Fatal("INVALID_ARGUMENT must not be retryable")
	}

	// a stream in which every event is bad: nothing usable, named like any bad input
	stream, err := c.IngestEvents(timeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(event("go-neg", "go-user", "sku-004", fulcrumv1.EventType_VIEW, -1)); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	_, err = stream.CloseAndRecv()
	if field, ok := fulcrum.InvalidField(err); !ok || field != "timestamp_ms" {
		t.Fatalf("IngestEvents of only bad events: InvalidField = %q, %v (%v)", field, ok, err)
	}
	_, err = c.Search(timeout(t, 10*time.Second), &fulcrumv1.SearchRequest{
		Query: "bag", K: 3, Options: &fulcrumv1.RecommendOptions{Diversity: proto.Float32(2)},
	})
	if field, ok := fulcrum.InvalidField(err); !ok || field != "options.diversity" {
		t.Fatalf("InvalidField = %q, %v (%v)", field, ok, err)
	}
}

func TestUnavailableIsRetriedByTheServiceConfig(t *testing.T) {
	front := startFront(t, needServer(t), 2, codes.Unavailable, false)
	c := newClient(t, front.target)
	info, err := c.GetModelInfo(timeout(t, 30*time.Second), &fulcrumv1.GetModelInfoRequest{})
	if err != nil {
		t.Fatalf("the third attempt should succeed: %v", err)
	}
	if info.GetApiVersion() != "fulcrum.v1" || front.Attempts() != 3 {
		t.Fatalf("attempts %d, reply %v", front.Attempts(), info)
	}
}

func TestRetriesStopAtMaxAttemptsAndCanBeSwitchedOff(t *testing.T) {
	target := needServer(t)
	front := startFront(t, target, 10, codes.Unavailable, false)
	p := fulcrum.DefaultPolicy
	p.MaxAttempts, p.InitialBackoff, p.MaxBackoff = 3, 10*time.Millisecond, 50*time.Millisecond
	c := newClient(t, front.target, withPolicy(t, p))
	_, err := c.GetModelInfo(timeout(t, 30*time.Second), &fulcrumv1.GetModelInfoRequest{})
	if !fulcrum.Retryable(err) || front.Attempts() != 3 {
		t.Fatalf("want UNAVAILABLE after 3 attempts, got %v after %d", err, front.Attempts())
	}

	once := startFront(t, target, 1, codes.Unavailable, false)
	p.MaxAttempts = 1
	c = newClient(t, once.target, withPolicy(t, p))
	_, err = c.GetModelInfo(timeout(t, 30*time.Second), &fulcrumv1.GetModelInfoRequest{})
	if status.Code(err) != codes.Unavailable || once.Attempts() != 1 {
		t.Fatalf("retries off: want one UNAVAILABLE attempt, got %v after %d", err, once.Attempts())
	}

	invalid := startFront(t, target, 5, codes.InvalidArgument, false)
	c = newClient(t, invalid.target)
	_, err = c.GetModelInfo(timeout(t, 30*time.Second), &fulcrumv1.GetModelInfoRequest{})
	if status.Code(err) != codes.InvalidArgument || invalid.Attempts() != 1 {
		t.Fatalf("INVALID_ARGUMENT is never retried: got %v after %d attempts", err, invalid.Attempts())
	}
}

func TestDeadlinesFromTheContextAndFromTheServiceConfig(t *testing.T) {
	target := needServer(t)
	front := startFront(t, target, 0, codes.OK, true) // holds every call
	c := newClient(t, front.target)
	_, err := c.Recommend(timeout(t, 300*time.Millisecond), &fulcrumv1.RecommendRequest{UserId: "u-1", K: 3})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("context deadline: want DEADLINE_EXCEEDED, got %v", err)
	}

	// no deadline on the context: the service config's Timeout ends the call
	p := fulcrum.DefaultPolicy
	p.Timeout = 300 * time.Millisecond
	short := newClient(t, front.target, withPolicy(t, p))
	_, err = short.GetModelInfo(context.Background(), &fulcrumv1.GetModelInfoRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("service-config deadline: want DEADLINE_EXCEEDED, got %v", err)
	}

	// a deadline the real server meets
	front.unblock()
	reply, err := c.Recommend(timeout(t, 10*time.Second), &fulcrumv1.RecommendRequest{UserId: "u-1", K: 3})
	if err != nil || len(reply.GetItems()) != 3 {
		t.Fatalf("Recommend through the front: %v, %v", reply, err)
	}
}

func TestServiceConfig(t *testing.T) {
	raw, err := fulcrum.ServiceConfig(fulcrum.DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		MethodConfig []struct {
			Name        []map[string]string
			Timeout     string
			RetryPolicy struct {
				MaxAttempts          int
				RetryableStatusCodes []string
			}
		}
	}
	if err := json.Unmarshal([]byte(raw), &config); err != nil {
		t.Fatal(err)
	}
	all, long := config.MethodConfig[0], config.MethodConfig[1]
	if all.Timeout != "10s" || long.Timeout != "300s" || all.RetryPolicy.MaxAttempts != 4 ||
		!slices.Equal(all.RetryPolicy.RetryableStatusCodes, []string{"UNAVAILABLE"}) {
		t.Fatalf("service config: %s", raw)
	}
	// the Python client's default (tests/clients/test_client_go.py passes it): the same policy
	if python := os.Getenv("GOCLIENT_PYTHON_SERVICE_CONFIG"); python != "" {
		var fromGo, fromPython any
		if err := json.Unmarshal([]byte(raw), &fromGo); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(python), &fromPython); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromGo, fromPython) {
			t.Fatalf("the Go and Python default service configs differ:\n go: %s\n py: %s", raw, python)
		}
	}
	bad := fulcrum.DefaultPolicy
	bad.MaxAttempts = 6
	if _, err := fulcrum.ServiceConfig(bad); err == nil || !strings.HasPrefix(err.Error(), "MaxAttempts") {
		t.Fatalf("MaxAttempts 6: want an error naming the field, got %v", err)
	}
}

// TestRecommendLatency logs round-trip times through the client (no assertion on time: a
// measurement for the report, see docs/api.md).
func TestRecommendLatency(t *testing.T) {
	c := newClient(t, needServer(t))
	const n = 200
	took := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		reply, err := c.Recommend(timeout(t, 10*time.Second), &fulcrumv1.RecommendRequest{UserId: "go-user", K: 10})
		if err != nil || len(reply.GetItems()) != 10 {
			t.Fatalf("Recommend %d: %v, %v", i, reply, err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("Recommend k=10 x%d through the Go client: p50 %v, p90 %v, p99 %v, max %v",
		n, took[n/2], took[n*9/10], took[n*99/100], took[n-1])
}
