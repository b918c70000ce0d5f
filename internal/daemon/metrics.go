package daemon

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	pb "github.com/anybpf/anybpf/api/anybpfv1"
	"github.com/anybpf/anybpf/maps"
)

// metrics are the daemon's Prometheus metrics.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	loadDuration prometheus.Histogram
	loads        *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anybpf_api_requests_total", Help: "API requests by method and result code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "anybpf_api_request_duration_seconds", Help: "API request latency by method (streams: their whole life).",
			Buckets: prometheus.ExponentialBuckets(1e-5, 4, 12),
		}, []string{"method"}),
		loadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "anybpf_load_duration_seconds", Help: "Time to load an object: parse, verify and compile.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 4, 10),
		}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anybpf_loads_total", Help: "Object loads by result.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.loadDuration, m.loads, objectCollector{s})
	return m
}

func (m *metrics) observe(method string, code codes.Code, d time.Duration) {
	m.requests.WithLabelValues(method, code.String()).Inc()
	m.latency.WithLabelValues(method).Observe(d.Seconds())
}

// Handler serves the metrics in Prometheus's text format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// objectCollector reports the object table at scrape time.
type objectCollector struct{ s *Server }

var (
	descRunCount = prometheus.NewDesc("anybpf_program_run_count_total", "Runs of a program (counted while statistics are on).", []string{"id", "name", "type"}, nil)
	descRunTime  = prometheus.NewDesc("anybpf_program_run_time_seconds_total", "Time a program ran (counted while statistics are on).", []string{"id", "name", "type"}, nil)
	descEntries  = prometheus.NewDesc("anybpf_map_entries", "Elements of a hash map or LPM trie (maps of up to 65536 entries; arrays are always full).", []string{"id", "name", "type"}, nil)
	descObjects  = prometheus.NewDesc("anybpf_objects", "Live objects by kind.", []string{"kind"}, nil)
	descMemory   = prometheus.NewDesc("anybpf_map_memory_bytes", "Memory the maps are charged.", nil, nil)
)

func (c objectCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRunCount
	ch <- descRunTime
	ch <- descEntries
	ch <- descObjects
	ch <- descMemory
}

func (c objectCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	var progs, ms []*object
	counts := map[pb.ObjectKind]int{}
	for _, o := range s.objs {
		counts[o.kind]++
		switch o.kind {
		case pb.ObjectKind_OBJECT_KIND_PROGRAM:
			progs = append(progs, o)
		case pb.ObjectKind_OBJECT_KIND_MAP:
			ms = append(ms, o)
		}
	}
	s.mu.Unlock()
	for _, k := range []pb.ObjectKind{pb.ObjectKind_OBJECT_KIND_PROGRAM, pb.ObjectKind_OBJECT_KIND_MAP, pb.ObjectKind_OBJECT_KIND_LINK} {
		ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(counts[k]), kindName(k))
	}
	for _, o := range progs {
		st := o.prog.Stats()
		id := strconv.FormatUint(uint64(o.id), 10)
		typ := progTypeName(o.prog)
		ch <- prometheus.MustNewConstMetric(descRunCount, prometheus.CounterValue, float64(st.RunCount), id, o.name, typ)
		ch <- prometheus.MustNewConstMetric(descRunTime, prometheus.CounterValue, st.RunTime.Seconds(), id, o.name, typ)
	}
	for _, o := range ms {
		spec := o.m.Spec()
		switch spec.Type {
		case maps.Hash, maps.LRUHash, maps.PerCPUHash, maps.LRUPerCPUHash, maps.LPMTrie:
		default:
			continue
		}
		if spec.MaxEntries > 1<<16 {
			continue
		}
		n := 0
		var key any
		next := make([]byte, spec.KeySize)
		for o.m.NextKey(key, next) == nil && n <= int(spec.MaxEntries) {
			n++
			key = append([]byte(nil), next...)
		}
		ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(n), strconv.FormatUint(uint64(o.id), 10), o.name, spec.Type.String())
	}
	ch <- prometheus.MustNewConstMetric(descMemory, prometheus.GaugeValue, float64(s.rt.MemoryInUse()))
}
