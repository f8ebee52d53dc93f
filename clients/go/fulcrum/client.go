// Package fulcrum is the Go client of Fulcrum's gRPC API, fulcrum.v1.Recommender.
//
// The request and reply types are the generated ones in package fulcrumv1
// (github.com/fulcrumrec/fulcrum/clients/go/fulcrum/v1), documented field by field in
// protos/fulcrum/v1/recommender.proto. This package adds what every caller needs on top:
//
//   - New: a client whose channel carries the Fulcrum service config: a default deadline
//     for calls whose context has none, and retries of UNAVAILABLE with exponential backoff
//     (safe for every Fulcrum RPC: reads have no effect, IngestEvents is idempotent on event_id),
//     round robin over the target's addresses with client-side health checking.
//   - InvalidField and Retryable: what a failed call means, without string matching.
//
// A call:
//
//	c, err := fulcrum.New("localhost:50051", grpc.WithTransportCredentials(insecure.NewCredentials()))
//	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
//	defer cancel()
//	reply, err := c.Recommend(ctx, &fulcrumv1.RecommendRequest{UserId: "u-7", K: 10})
package fulcrum

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/health" // client-side health checking (healthCheckConfig below)
	"google.golang.org/grpc/status"

	fulcrumv1 "github.com/fulcrumrec/fulcrum/clients/go/fulcrum/v1"
)

// RequestIDHeader is the metadata key the server reads a request id from and echoes in the
// trailing metadata (and in its logs).
const RequestIDHeader = "x-request-id"

const serviceName = "fulcrum.v1.Recommender"

// Policy is the service config's knobs: default deadlines and the retry of UNAVAILABLE.
type Policy struct {
	// MaxAttempts counts the first attempt; 1 switches retries off, gRPC caps it at 5.
	MaxAttempts       int
	InitialBackoff    time.Duration
	MaxBackoff        time.Duration
	BackoffMultiplier float64
	// Timeout applies to calls whose context has no deadline; LongTimeout to IngestEvents
	// and ReloadModel, which can take long. A shorter context deadline always wins.
	Timeout     time.Duration
	LongTimeout time.Duration
}

// DefaultPolicy is the policy New uses (the Python client's defaults are the same).
var DefaultPolicy = Policy{
	MaxAttempts:       4,
	InitialBackoff:    100 * time.Millisecond,
	MaxBackoff:        2 * time.Second,
	BackoffMultiplier: 2,
	Timeout:           10 * time.Second,
	LongTimeout:       300 * time.Second,
}

func seconds(d time.Duration) string {
	return fmt.Sprintf("%gs", d.Seconds())
}

// ServiceConfig renders p as a gRPC service config (JSON), for grpc.WithDefaultServiceConfig.
// It returns an error naming the field when p is out of range (gRPC would ignore the config).
func ServiceConfig(p Policy) (string, error) {
	switch {
	case p.MaxAttempts < 1 || p.MaxAttempts > 5:
		return "", fmt.Errorf("MaxAttempts: must be in 1..5 (gRPC's cap), got %d", p.MaxAttempts)
	case p.MaxAttempts > 1 && (p.InitialBackoff <= 0 || p.MaxBackoff < p.InitialBackoff):
		return "", fmt.Errorf("InitialBackoff: must be > 0 and <= MaxBackoff, got %v", p.InitialBackoff)
	case p.MaxAttempts > 1 && p.BackoffMultiplier <= 0:
		return "", fmt.Errorf("BackoffMultiplier: must be > 0, got %g", p.BackoffMultiplier)
	case p.Timeout <= 0 || p.LongTimeout <= 0:
		return "", fmt.Errorf("Timeout and LongTimeout: must be > 0, got %v and %v", p.Timeout, p.LongTimeout)
	}
	method := func(names []map[string]string, timeout time.Duration) map[string]any {
		m := map[string]any{"name": names, "timeout": seconds(timeout)}
		if p.MaxAttempts > 1 {
			m["retryPolicy"] = map[string]any{
				"maxAttempts":          p.MaxAttempts,
				"initialBackoff":       seconds(p.InitialBackoff),
				"maxBackoff":           seconds(p.MaxBackoff),
				"backoffMultiplier":    p.BackoffMultiplier,
				"retryableStatusCodes": []string{"UNAVAILABLE"},
			}
		}
		return m
	}
	config := map[string]any{
		// round robin over every resolved address, only to backends whose health says SERVING
		// for the service (a draining server leaves the rotation before its port closes)
		"loadBalancingConfig": []any{map[string]any{"round_robin": map[string]any{}}},
		"healthCheckConfig":   map[string]any{"serviceName": serviceName},
		"methodConfig": []any{
			// the service-wide entry covers every other method, including ones added later
			method([]map[string]string{{"service": serviceName}}, p.Timeout),
			method([]map[string]string{
				{"service": serviceName, "method": "IngestEvents"},
				{"service": serviceName, "method": "ReloadModel"},
			}, p.LongTimeout),
		},
	}
	if p.MaxAttempts > 1 {
		// stop retrying when most calls fail, so a server that is down is not hammered
		config["retryThrottling"] = map[string]any{"maxTokens": 10, "tokenRatio": 0.1}
	}
	out, err := json.Marshal(config)
	return string(out), err
}

// Client is a fulcrumv1.RecommenderClient on its own connection; safe for concurrent use.
type Client struct {
	fulcrumv1.RecommenderClient
	conn *grpc.ClientConn
}

// New connects to target (e.g. "dns:///fulcrum:50051") with the DefaultPolicy service config.
// opts must carry transport credentials; options given later override earlier ones, so a
// grpc.WithDefaultServiceConfig(...) among opts replaces the default policy.
func New(target string, opts ...grpc.DialOption) (*Client, error) {
	config, err := ServiceConfig(DefaultPolicy)
	if err != nil {
		return nil, err
	}
	all := append([]grpc.DialOption{grpc.WithDefaultServiceConfig(config)}, opts...)
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("fulcrum client for %s: %w", target, err)
	}
	return &Client{RecommenderClient: fulcrumv1.NewRecommenderClient(conn), conn: conn}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// InvalidField returns the request field an INVALID_ARGUMENT error names (the server's message
// is always "field: why", e.g. "k: is 0, must be in 1..100"), and whether err was one.
func InvalidField(err error) (string, bool) {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.InvalidArgument {
		return "", false
	}
	head, _, found := strings.Cut(s.Message(), ": ")
	if !found || strings.Contains(head, " ") {
		return "", true
	}
	return head, true
}

// Retryable reports whether sending the same request again later may succeed: UNAVAILABLE,
// returned once the service config's retries were used up.
func Retryable(err error) bool {
	return status.Code(err) == codes.Unavailable
}
