package redisstore

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
	"github.com/smppmux/smppmux/internal/redistest"
)

// TestRedisSentinel finds the master through a Sentinel.
func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "smppmux-test", master)
	s := openRedis(t, sentinel.Addr, 1, func(c *Config) { c.MasterName = "smppmux-test" })
	m := dlr.Mapping{Upstream: "u", UpstreamID: "1", Origin: dlr.Origin{SystemID: "shop", ClientID: "a"}, Expires: time.Now().Add(time.Hour)}
	storetest.PutSync(t, s, m)
	// Straight from the master: the write went there.
	direct := openRedis(t, master.Addr, 2, nil)
	if route, ok, err := direct.Get("u", "1"); !ok || err != nil || route != m.Origin {
		t.Fatalf("Get on the master = %+v %v %v", route, ok, err)
	}
}

// TestRedisSentinelFailover: a master with two replicas dies and the
// Sentinel promotes one of them. A mapping written with wait_replicas 2
// before the master died is on both replicas, so on the promoted one
// whichever it is. Writes fail while the new master has fewer replicas
// than wait_replicas, and work again once a new replica follows it,
// without reopening the store.
//
// This test once lost its mapping, with wait_replicas 1 and the
// Sentinel's down-after-milliseconds at 300. Its events showed why: the
// Sentinel lost its link to the replica it had just promoted for more
// than 300 ms, failed over again, and again, each time promoting the
// other replica, which may be in the middle of a full resync, its data
// not yet loaded. And with wait_replicas 1 of 2, a write is certain only
// on one replica: the Sentinel picks the replica to promote by the
// replication offsets it last saw, best effort.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	set := startSentinelSet(t, ctx)
	viaSentinel := set.via(2)
	s := openRedis(t, set.sentinel.Addr, 1, viaSentinel)
	before := dlr.Mapping{Upstream: "u", UpstreamID: "before", Origin: dlr.Origin{SystemID: "shop", ClientID: "b"}, Expires: time.Now().Add(time.Hour)}
	storetest.PutSync(t, s, before)

	set.master.Kill()
	promoted := set.awaitSwitch(t, ctx)

	// The new master has one replica, the other: a write is refused.
	after := dlr.Mapping{Upstream: "u", UpstreamID: "after", Origin: dlr.Origin{SystemID: "shop", ClientID: "a"}, Expires: time.Now().Add(time.Hour)}
	if err := storetest.PutMapping(s, after); err == nil {
		t.Fatal("a write was acknowledged by one replica when wait_replicas asks for two")
	}
	// A second replica follows the new master: writes work again once
	// the store's client has followed the switch and the replica has the
	// data. A write is tried again until it lands, as a client sends
	// again a submit it had no answer for.
	replica := redistest.StartReplica(t, promoted)
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
	defer rc.Close()
	sc := redis.NewClient(&redis.Options{Addr: set.sentinel.Addr})
	defer sc.Close()
	following := promoted.Addr
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	var failed int
	for {
		err := storetest.PutMapping(s, after)
		if err == nil {
			break
		}
		failed++
		// On a busy machine the Sentinel may fail over again (the
		// promoted master was slow to answer): WAIT counts only the
		// master's own replicas, so the new one follows the master the
		// Sentinel names now.
		if addr, err := sc.Do(ctx, "SENTINEL", "get-master-addr-by-name", set.name).StringSlice(); err == nil && len(addr) == 2 {
			if now := net.JoinHostPort(addr[0], addr[1]); now != following {
				t.Logf("the Sentinel switched again, to %s", now)
				if err := rc.Do(ctx, "REPLICAOF", addr[0], addr[1]).Err(); err == nil {
					following = now
				}
			}
		}
		select {
		case <-retry.C:
		case <-ctx.Done():
			t.Fatalf("writes still failing after the failover (%d tries): %v", failed, err)
		}
	}
	t.Logf("%d writes failed before the store followed the switch", failed)
	// A second instance, opened after the failover, reads both from the
	// promoted replica, not from a memory of what it wrote.
	other := openRedis(t, set.sentinel.Addr, 2, viaSentinel)
	for _, m := range []dlr.Mapping{before, after} {
		if route, ok, err := other.Get(m.Upstream, m.UpstreamID); !ok || err != nil || route != m.Origin {
			t.Fatalf("Get %s after the failover = %+v %v %v", m.UpstreamID, route, ok, err)
		}
	}
}

// sentinelSet is a master with two replicas and a Sentinel watching it
// under name.
type sentinelSet struct {
	name     string
	master   *redistest.Server
	replicas []*redistest.Server
	sentinel *redistest.Server
	switched <-chan *redis.Message // the Sentinel's +switch-master
}

// startSentinelSet starts a sentinelSet whose Sentinel calls the master
// down after a second of silence: a shorter delay made it fail over
// again, and again, right after a failover (see TestRedisSentinelFailover).
func startSentinelSet(t *testing.T, ctx context.Context) *sentinelSet {
	t.Helper()
	set := &sentinelSet{name: "smppmux-failover", master: redistest.Start(t)}
	// Either may become the master: it sends its data to a new replica
	// at once, not after the 5 s Redis waits by default for others.
	host, port, _ := net.SplitHostPort(set.master.Addr)
	for range 2 {
		set.replicas = append(set.replicas, redistest.Start(t, "--replicaof", host, port, "--repl-diskless-sync-delay", "0"))
	}
	// The Sentinel learns of the replicas from the master's INFO when it
	// connects: they must be attached first.
	mc := redis.NewClient(&redis.Options{Addr: set.master.Addr})
	defer mc.Close()
	if err := mc.Set(ctx, "attached", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := mc.Do(ctx, "WAIT", 2, 20000).Int(); err != nil || n != 2 {
		t.Fatalf("replicas not attached: WAIT = %d, %v", n, err)
	}
	set.sentinel = redistest.StartSentinel(t, set.name, set.master, "down-after-milliseconds 1000", "failover-timeout 5000")
	sc := redis.NewClient(&redis.Options{Addr: set.sentinel.Addr})
	t.Cleanup(func() { sc.Close() })
	sub := sc.Subscribe(ctx, "+switch-master")
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	set.switched = sub.Channel()
	return set
}

// via makes a store find the master through the Sentinel, every write
// waiting for replicas.
func (set *sentinelSet) via(replicas int) func(*Config) {
	return func(c *Config) {
		c.MasterName = set.name
		c.WaitReplicas, c.WaitTimeout = replicas, time.Second
	}
}

// awaitSwitch waits for the Sentinel to promote a replica and returns it.
func (set *sentinelSet) awaitSwitch(t *testing.T, ctx context.Context) *redistest.Server {
	t.Helper()
	select {
	case msg := <-set.switched:
		// "<name> <old ip> <old port> <new ip> <new port>"
		f := strings.Fields(msg.Payload)
		if len(f) != 5 || f[0] != set.name {
			t.Fatalf("+switch-master %q", msg.Payload)
		}
		to := net.JoinHostPort(f[3], f[4])
		for _, r := range set.replicas {
			if r.Addr == to {
				return r
			}
		}
		t.Fatalf("switched to %s, not to a replica (%s, %s)", to, set.replicas[0].Addr, set.replicas[1].Addr)
	case <-ctx.Done():
		t.Fatal("no +switch-master from the Sentinel")
	}
	return nil
}

// TestRedisRestart: while Redis is down writes fail (the callers answer
// with an error status, so the SMSC sends again) instead of hanging; once
// a new, empty Redis is up on the same address the store works again, its
// scripts loaded again and its instance number claimed again.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	s := openRedis(t, r.Addr, 1, nil)
	if _, err := storetest.AddSync(t, s, "shop", "before"); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	if _, err := storetest.AddSync(t, s, "shop", "while down"); err == nil {
		t.Fatal("an outbox write succeeded with Redis down")
	}
	r.Revive()
	if _, err := storetest.AddSync(t, s, "shop", "after"); err != nil {
		t.Fatalf("outbox write after the restart: %v", err)
	}
	m := dlr.Mapping{Upstream: "u", UpstreamID: "9", Origin: dlr.Origin{SystemID: "shop", ClientID: "x"}, Expires: time.Now().Add(time.Hour)}
	storetest.PutSync(t, s, m)
	if _, ok, err := s.Get("u", "9"); !ok || err != nil {
		t.Fatalf("Get after the restart = %v %v", ok, err)
	}
	if items, err := s.Pending("shop", 0, 10); err != nil || len(items) != 1 || string(items[0].Raw[pdu.HeaderLen:]) != "after" {
		t.Fatalf("Pending after the restart = %d items, %v", len(items), err)
	}
	// The keeper claims the instance number again (a Redis that lost its
	// data does not remember it); then a second process with it is refused.
	if !poll(50*time.Millisecond, 10*time.Second, func() bool {
		v, _ := s.c.Get(t.Context(), s.instanceKey()).Result()
		return v == s.token
	}) {
		t.Fatal("the instance number was never claimed again")
	}
	other, err := Open(Config{Addrs: []string{r.Addr}, Instance: 1, LeaseTTL: time.Second})
	if err == nil {
		other.Close()
	}
	if !errors.Is(err, ErrInstanceInUse) {
		t.Fatalf("second process with instance 1 after the restart: %v, want ErrInstanceInUse", err)
	}
}

// openCluster opens a store on the cluster of addrs, closed when the
// test ends.
func openCluster(t *testing.T, addrs []string, instance int) *Store {
	t.Helper()
	s, err := Open(Config{Addrs: addrs, Instance: instance, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRedisCluster runs the store on a three-master Redis Cluster: the
// scripts that touch a client's outbox and lease find their keys on one
// slot thanks to the {system_id} hash tag.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t, 3)
	a, b := openCluster(t, addrs, 1), openCluster(t, addrs, 2)
	for i := range 50 {
		m := dlr.Mapping{Upstream: "carrier", UpstreamID: strconv.Itoa(i), Origin: dlr.Origin{SystemID: "shop", ClientID: "c" + strconv.Itoa(i)},
			Expires: time.Now().Add(time.Hour)}
		storetest.PutSync(t, a, m)
		if got, ok, err := b.ByClient("shop", m.ClientID); !ok || err != nil || got.UpstreamID != m.UpstreamID {
			t.Fatalf("ByClient %s = %+v %v %v", m.ClientID, got, ok, err)
		}
	}
	events := make(chan string, 100)
	b.Watch(func(id string) { events <- id })
	for _, client := range []string{"shop", "bank", "news"} {
		it, err := storetest.AddSync(t, a, client, "hello "+client)
		if err != nil {
			t.Fatalf("AddOutbox %s: %v", client, err)
		}
		if items, err := b.Pending(client, 0, 10); err != nil || len(items) != 1 {
			t.Fatalf("Pending %s = %d items, %v", client, len(items), err)
		}
		if g, err := a.Lease(client); !g.Ours() || err != nil {
			t.Fatalf("Lease %s = %v %v", client, g, err)
		}
		if g, _ := b.Lease(client); g.Ours() {
			t.Fatalf("two leases on %s", client)
		}
		// The dead letter scripts touch the outbox, the lease and the
		// dead letters of the client: one slot.
		if _, err := storetest.Bury(a, client, it, dlr.ReasonRefused); err != nil {
			t.Fatalf("dead letter of %s: %v", client, err)
		}
		if back, err := b.RequeueDeadLetters(client, 10); err != nil || len(back) != 1 {
			t.Fatalf("RequeueDeadLetters %s = %d, %v", client, len(back), err)
		}
		a.Release(client)
	}
	// The release of each lease reaches b as an event.
	seen := make(map[string]bool)
	for len(seen) < 3 {
		select {
		case id := <-events:
			if g, _ := b.Lease(id); g.Ours() {
				seen[id] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("leases released and taken over: %v", seen)
		}
	}
}
