/*
 * The status endpoint: a small HTTP server on status_listen for probes,
 * scrapers and people.  /live answers while the event loop turns, /ready
 * while the proxy takes traffic (503 from SIGTERM on, so a load balancer
 * stops sending before the listeners are gone), /metrics is the Prometheus
 * exposition of metrics.c, /status.json the state of routes and pools, and
 * /status a self-contained HTML page that shows the same and refreshes
 * itself from /status.json.  The page is rendered on the server too, so it
 * reads fine without JavaScript.
 *
 * It has a small server of its own, apart from the sessions: it is not
 * the data path and must keep answering while the listeners are closed
 * for shutdown.  Requests are parsed by the data path's parser; at most
 * STATUS_MAX_CONNS connections are open at once and each has
 * STATUS_TIMEOUT for a whole request head, so that slow or many clients
 * cannot take the descriptors the proxy needs.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "balancer.h"
#include "breaker.h"
#include "conf.h"
#include "cutover.h"
#include "health.h"
#include "http_parse.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"
#include "route.h"
#include "session.h"
#include "status.h"
#include "worker.h"
#include "xmalloc.h"

#define STATUS_TIMEOUT		10	/* seconds for a head, or a write */
#define STATUS_MAX_HEADERS	16384
#define STATUS_MAX_CONNS	64	/* then accepting waits */
#define STATUS_COLORS		8	/* pool colours of the page */

/* A page of the endpoint: fills buf, sets the type, returns the status. */
typedef int (*status_page_cb)(struct evbuffer *, const char **);

struct status_conn;

/* The endpoint; owned by this module. */
struct status {
	struct event_base	*base;
	struct evconnlistener	*lev;
	struct event		*backoff;	/* accept failed: wait */
	TAILQ_HEAD(, status_conn) conns;
	unsigned		 nconns;
	char			*addr;		/* status_listen as written */
	struct sockaddr_storage	 ss;		/* ... and resolved */
	socklen_t		 sslen;
};

static struct status	*status;
static struct status	*status_next;	/* opened by status_prepare() */

/* Returns the name of a match rule's kind. */
static const char *
status_match_name(enum match_kind k)
{
	switch (k) {
	case MATCH_HEADER:
	case MATCH_HEADER_PRESENT:
		return ("header");
	case MATCH_COOKIE:
		return ("cookie");
	}
	return ("?");
}

/* Returns the badge class of a state name: ok, warn, bad or off. */
static const char *
status_badge_class(const char *state)
{
	static const char *const table[][2] = {
		{ "ready", "ok" }, { "up", "ok" }, { "closed", "ok" },
		{ "drain", "warn" }, { "checking", "warn" },
		{ "half-open", "warn" },
		{ "down", "bad" }, { "open", "bad" },
	};
	size_t	i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (strcmp(table[i][0], state) == 0)
			return (table[i][1]);
	}
	return ("off");
}

/* Returns the configured share of split entry i, in percent. */
static double
status_conf_share(const struct route *r, size_t i)
{
	long	total = 0;
	size_t	j;

	for (j = 0; j < r->nsplit; j++) {
		if (r->split[j].conf_weight > 0)
			total += r->split[j].conf_weight;
	}
	if (total == 0 || r->split[i].conf_weight <= 0)
		return (0.0);
	return (100.0 * r->split[i].conf_weight / total);
}

/* Returns the index of a pool in conf, which picks its colour. */
static size_t
status_pool_index(const struct conf *conf, const struct pool *p)
{
	size_t	i;

	for (i = 0; i < conf->npools; i++) {
		if (conf->pools[i] == p)
			return (i);
	}
	return (0);
}

/* Returns 1 while the proxy takes traffic. */
static int
status_ready(void)
{
	return (cutover.conf != NULL && !cutover.shutting_down &&
	    listener_count() > 0);
}

/* Appends text escaped for HTML. */
static void
status_html_str(struct evbuffer *buf, const char *s)
{
	const char	*p;

	for (p = s; *p != '\0'; p++) {
		switch (*p) {
		case '&':
			evbuffer_add_printf(buf, "&amp;");
			break;
		case '<':
			evbuffer_add_printf(buf, "&lt;");
			break;
		case '>':
			evbuffer_add_printf(buf, "&gt;");
			break;
		case '"':
			evbuffer_add_printf(buf, "&quot;");
			break;
		case '\'':
			evbuffer_add_printf(buf, "&#39;");
			break;
		default:
			evbuffer_add(buf, p, 1);
			break;
		}
	}
}

/* Appends the "info" object of /status.json. */
static void
status_json_info(struct evbuffer *buf)
{
	unsigned	reading, active, idle;

	session_counts(&reading, &active, &idle);
	evbuffer_add_printf(buf, "\"info\":{\"version\":\"%s\",\"pid\":%ld,"
	    "\"started\":%lld,\"uptime\":%lld,\"config\":", PACKAGE_VERSION,
	    (long)getpid(), (long long)cutover.started,
	    (long long)(time(NULL) - cutover.started));
	json_str(buf, cutover.conf_path != NULL ? cutover.conf_path :
	    "");
	evbuffer_add_printf(buf, ",\"ready\":%s,\"shutting_down\":%s,"
	    "\"connections\":{\"open\":%u,\"reading\":%u,\"active\":%u,"
	    "\"idle\":%u},\"accepted\":%llu,\"requests\":%llu}",
	    status_ready() ? "true" : "false",
	    cutover.shutting_down ? "true" : "false", session_count(),
	    reading, active, idle, (unsigned long long)cutover.accepted,
	    (unsigned long long)cutover_requests());
}

/* Appends one route of /status.json. */
static void
status_json_route(struct evbuffer *buf, const struct route *r)
{
	const struct match_rule	*m;
	size_t			 i;

	evbuffer_add_printf(buf, "{\"name\":");
	json_str(buf, r->name);
	evbuffer_add_printf(buf, ",\"hosts\":[");
	for (i = 0; i < r->nhosts; i++) {
		evbuffer_add_printf(buf, "%s", i > 0 ? "," : "");
		json_str(buf, r->hosts[i]);
	}
	evbuffer_add_printf(buf, "],\"path_prefix\":");
	json_str(buf, r->path_prefix != NULL ? r->path_prefix : "/");
	evbuffer_add_printf(buf, ",\"stable\":");
	json_str(buf, r->stable != NULL ? r->stable->name : "");
	evbuffer_add_printf(buf, ",\"sticky\":\"%s\",\"sticky_name\":",
	    conf_sticky_name(r->sticky));
	json_str(buf, r->sticky_name != NULL ? r->sticky_name : "");
	evbuffer_add_printf(buf, ",\"split\":[");
	for (i = 0; i < r->nsplit; i++) {
		evbuffer_add_printf(buf, "%s{\"pool\":", i > 0 ? "," : "");
		json_str(buf, r->split[i].pool->name);
		evbuffer_add_printf(buf, ",\"configured\":%d,\"weight\":%d,"
		    "\"configured_share\":%.2f,\"share\":%.2f,\"up\":%s}",
		    r->split[i].conf_weight, r->split[i].weight,
		    status_conf_share(r, i), route_share(r, i),
		    balancer_pool_up(r->split[i].pool) ? "true" : "false");
	}
	evbuffer_add_printf(buf, "],\"matches\":[");
	for (i = 0; i < r->nmatches; i++) {
		m = &r->matches[i];
		evbuffer_add_printf(buf, "%s{\"kind\":\"%s\",\"name\":",
		    i > 0 ? "," : "", status_match_name(m->kind));
		json_str(buf, m->name);
		evbuffer_add_printf(buf, ",\"value\":");
		if (m->value != NULL)
			json_str(buf, m->value);
		else
			evbuffer_add_printf(buf, "null");
		evbuffer_add_printf(buf, ",\"pool\":");
		json_str(buf, m->pool->name);
		evbuffer_add_printf(buf, "}");
	}
	evbuffer_add_printf(buf, "]}");
}

/* Appends one pool of /status.json. */
static void
status_json_pool(struct evbuffer *buf, const struct pool *p)
{
	const struct server	*s;
	size_t			 i;

	evbuffer_add_printf(buf, "{\"name\":");
	json_str(buf, p->name);
	evbuffer_add_printf(buf, ",\"balance\":\"%s\",\"health_checks\":%s,"
	    "\"up\":%s,\"servers\":[", p->balance == BALANCE_LEAST_CONN ?
	    "least_conn" : "roundrobin", p->health_path != NULL ? "true" :
	    "false", balancer_pool_up(p) ? "true" : "false");
	for (i = 0; i < p->nservers; i++) {
		s = p->servers[i];
		evbuffer_add_printf(buf, "%s{\"name\":", i > 0 ? "," : "");
		json_str(buf, s->name);
		evbuffer_add_printf(buf, ",\"address\":");
		json_str(buf, s->addr_text != NULL ? s->addr_text : "");
		evbuffer_add_printf(buf, ",\"weight\":%d,\"configured_weight\":"
		    "%d,\"backup\":%s,\"admin\":\"%s\",\"health\":\"%s\","
		    "\"breaker\":\"%s\",\"eligible\":%s,\"active\":%u,"
		    "\"requests\":%llu,\"errors\":%llu}", s->weight,
		    s->conf_weight, s->backup ? "true" : "false",
		    conf_admin_name(s->admin), health_state_name(s->health),
		    breaker_state_name(s->breaker),
		    balancer_server_eligible(s) ? "true" : "false", s->active,
		    (unsigned long long)s->requests,
		    (unsigned long long)s->errors);
	}
	evbuffer_add_printf(buf, "]}");
}

/* Renders /status.json: info, routes, pools and rollouts. */
void
status_render_json(struct evbuffer *buf)
{
	const struct conf	*conf = cutover.conf;
	size_t			 i;

	evbuffer_add_printf(buf, "{");
	status_json_info(buf);
	evbuffer_add_printf(buf, ",\"routes\":[");
	for (i = 0; conf != NULL && i < conf->nroutes; i++) {
		evbuffer_add_printf(buf, "%s", i > 0 ? "," : "");
		status_json_route(buf, conf->routes[i]);
	}
	evbuffer_add_printf(buf, "],\"pools\":[");
	for (i = 0; conf != NULL && i < conf->npools; i++) {
		evbuffer_add_printf(buf, "%s", i > 0 ? "," : "");
		status_json_pool(buf, conf->pools[i]);
	}
	evbuffer_add_printf(buf, "],\"rollouts\":");
	rollout_json(buf, NULL);
	evbuffer_add_printf(buf, "}\n");
}

/* The page's style sheet: light, or dark when the system asks for it. */
static const char status_css[] =
":root{--bg:#f4f6f9;--card:#fff;--fg:#18212b;--muted:#677489;"
"--line:#e4e8ee;--track:#edf1f5;--ok:#157f4b;--ok-bg:#def5e8;"
"--bad:#c62f2f;--bad-bg:#fde6e6;--warn:#a35f00;--warn-bg:#fff0d1;"
"--off:#5f6b7a;--off-bg:#eceff3}\n"
"@media (prefers-color-scheme:dark){:root{--bg:#0e1319;--card:#161d25;"
"--fg:#e3e8ee;--muted:#8d99a8;--line:#252f3a;--track:#222b35;"
"--ok:#49d18b;--ok-bg:#12301f;--bad:#ff7070;--bad-bg:#3b1a1d;"
"--warn:#f3b54a;--warn-bg:#392b12;--off:#9ba6b3;--off-bg:#232c36}}\n"
"*{box-sizing:border-box}\n"
"body{margin:0;background:var(--bg);color:var(--fg);"
"font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,"
"\"Helvetica Neue\",Arial,sans-serif}\n"
"header{display:flex;align-items:center;gap:28px;flex-wrap:wrap;"
"padding:14px max(32px,calc(50% - 588px));background:#111827;"
"color:#f3f4f6}\n"
".brand{display:flex;align-items:center;gap:10px;font-size:18px;"
"font-weight:700;letter-spacing:.2px}\n"
".brand small{font-size:12px;font-weight:500;color:#9ca3af}\n"
".logo{width:22px;height:22px;border-radius:6px;"
"background:linear-gradient(90deg,#3b82f6 0 55%,#22c55e 55% 100%)}\n"
".facts{display:flex;gap:26px;flex-wrap:wrap;margin-left:auto}\n"
".fact{display:flex;flex-direction:column}\n"
".fact span{font-size:10.5px;letter-spacing:.07em;"
"text-transform:uppercase;color:#9ca3af}\n"
".fact b{font-size:15px;font-variant-numeric:tabular-nums}\n"
".live{display:flex;align-items:center;gap:7px;font-size:12px;"
"color:#d1d5db;min-width:92px}\n"
".dot{width:8px;height:8px;border-radius:50%;background:#22c55e;"
"box-shadow:0 0 0 3px rgba(34,197,94,.25)}\n"
".live.stale .dot{background:#ef4444;"
"box-shadow:0 0 0 3px rgba(239,68,68,.25)}\n"
".live.down .dot{background:#f59e0b;"
"box-shadow:0 0 0 3px rgba(245,158,11,.25)}\n"
"main{max-width:1240px;margin:0 auto;padding:8px 32px 24px}\n"
"h2{margin:26px 0 10px;font-size:12px;letter-spacing:.09em;"
"text-transform:uppercase;color:var(--muted)}\n"
"#routes{display:grid;gap:14px}\n"
".grid{display:grid;gap:16px;"
"grid-template-columns:repeat(auto-fill,minmax(600px,1fr))}\n"
".scroll{overflow-x:auto}\n"
".card{background:var(--card);border:1px solid var(--line);"
"border-radius:10px;padding:16px 18px;"
"box-shadow:0 1px 2px rgba(16,24,40,.05)}\n"
".card-head{display:flex;align-items:center;gap:10px;flex-wrap:wrap;"
"margin-bottom:12px}\n"
".card h3{margin:0;font-size:16px}\n"
".meta{color:var(--muted);font-size:12px}\n"
".card-head .meta{margin-left:auto}\n"
".stack{display:flex;height:14px;border-radius:7px;overflow:hidden;"
"background:var(--track);margin-bottom:10px}\n"
".seg{height:100%;transition:width .4s}\n"
".seg+.seg{border-left:2px solid var(--card)}\n"
"table{width:100%;border-collapse:collapse}\n"
".split td{padding:5px 0;vertical-align:middle}\n"
".split .pool{width:170px;font-weight:600;white-space:nowrap}\n"
".split .pct{width:64px;text-align:right;font-weight:600;"
"font-variant-numeric:tabular-nums}\n"
".split .conf{width:120px;text-align:right;color:var(--muted);"
"font-size:12px}\n"
".track{height:8px;margin:0 14px;border-radius:4px;overflow:hidden;"
"background:var(--track)}\n"
".fill{height:100%;border-radius:4px;transition:width .4s}\n"
".sw{display:inline-block;width:10px;height:10px;margin-right:8px;"
"border-radius:3px;vertical-align:-1px}\n"
".card-head .sw{margin-right:0}\n"
".c0{background:#3b82f6}.c1{background:#22c55e}.c2{background:#a855f7}"
".c3{background:#f59e0b}.c4{background:#06b6d4}.c5{background:#ec4899}"
".c6{background:#84cc16}.c7{background:#64748b}\n"
".servers{table-layout:fixed}\n"
".servers th:nth-child(1){width:26%}.servers th:nth-child(2){width:9%}"
".servers th:nth-child(3),.servers th:nth-child(4),"
".servers th:nth-child(5){width:12%}.servers th:nth-child(6){width:9%}"
".servers th:nth-child(7),.servers th:nth-child(8){width:10%}\n"
".servers td{overflow:hidden;text-overflow:ellipsis}\n"
".servers th{padding:6px 8px;border-bottom:1px solid var(--line);"
"font-size:10.5px;font-weight:600;letter-spacing:.06em;"
"text-transform:uppercase;text-align:left;color:var(--muted)}\n"
".servers td{padding:8px;border-bottom:1px solid var(--line)}\n"
".servers tr:last-child td{border-bottom:0}\n"
".servers .name{font-weight:600}\n"
".servers .mono{display:block;font-weight:400}\n"
".servers th.num,.num{text-align:right;font-variant-numeric:tabular-nums}\n"
".mono{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
"color:var(--muted)}\n"
".badge{display:inline-block;padding:0 8px;border-radius:999px;"
"font-size:11px;font-weight:600;line-height:19px;white-space:nowrap}\n"
".ok{color:var(--ok);background:var(--ok-bg)}"
".warn{color:var(--warn);background:var(--warn-bg)}"
".bad{color:var(--bad);background:var(--bad-bg)}"
".off{color:var(--off);background:var(--off-bg)}\n"
".empty{margin:0;padding:18px;border:1px dashed var(--line);"
"border-radius:10px;text-align:center;color:var(--muted)}\n"
"footer{max-width:1240px;margin:0 auto;padding:8px 32px 32px;"
"font-size:12px;color:var(--muted)}\n"
"footer a{color:inherit}\n";

/*
 * The page's script: fetches /status.json every 2 s and renders the same
 * markup as the server does below; keep the two in step.
 */
static const char status_js[] =
"(function(){\n"
"var K={ready:'ok',up:'ok',closed:'ok',drain:'warn',checking:'warn',"
"'half-open':'warn',down:'bad',open:'bad'};\n"
"function e(s){return String(s).replace(/[&<>\"']/g,function(c){"
"return{'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;',\"'\":'&#39;'}"
"[c];});}\n"
"function b(v,t){return '<span class=\"badge '+(K[v]||'off')+'\">'+"
"e(t||v)+'</span>';}\n"
"function pct(x){return (Math.round(x*10)/10)+'%';}\n"
"function num(n){return Number(n).toLocaleString('en-US');}\n"
"function dur(s){var d=Math.floor(s/86400),h=Math.floor(s%86400/3600),"
"m=Math.floor(s%3600/60);if(d)return d+'d '+h+'h';if(h)return h+'h '+m+"
"'m';if(m)return m+'m '+s%60+'s';return s+'s';}\n"
"function $(id){return document.getElementById(id);}\n"
"function info(d){var i=d.info;return '<div class=\"fact\"><span>"
"uptime</span><b>'+dur(i.uptime)+'</b></div><div class=\"fact\"><span>"
"connections</span><b>'+num(i.connections.open)+'</b></div><div "
"class=\"fact\"><span>requests</span><b>'+num(i.requests)+'</b></div>"
"<div class=\"fact\"><span>pid</span><b>'+i.pid+'</b></div>';}\n"
"function route(r,col){var m=[r.hosts.length?r.hosts.join(', '):"
"'any host',r.path_prefix,'stable '+r.stable];if(r.sticky!=='off')"
"m.push('sticky '+r.sticky+(r.sticky_name?' '+r.sticky_name:''));"
"if(r.matches.length)m.push(r.matches.length+' match rule'+"
"(r.matches.length>1?'s':''));var h='<article class=\"card route\" "
"data-route=\"'+e(r.name)+'\"><div class=\"card-head\"><h3>'+e(r.name)+"
"'</h3><span class=\"meta\">'+e(m.join(' \\u00b7 '))+'</span></div>"
"<div class=\"stack\">';r.split.forEach(function(s){if(s.share>0)h+="
"'<span class=\"seg '+col(s.pool)+'\" style=\"width:'+s.share+'%\" "
"title=\"'+e(s.pool)+' '+pct(s.share)+'\"></span>';});h+='</div><table "
"class=\"split\">';r.split.forEach(function(s){h+='<tr><td class=\"pool"
"\"><i class=\"sw '+col(s.pool)+'\"></i>'+e(s.pool)+(s.up?'':' '+"
"b('down'))+'</td><td><div class=\"track\"><div class=\"fill '+"
"col(s.pool)+'\" style=\"width:'+s.share+'%\"></div></div></td><td "
"class=\"pct\">'+pct(s.share)+'</td><td class=\"conf\">configured '+"
"pct(s.configured_share)+'</td></tr>';});return h+'</table></article>';}"
"\n"
"function pool(p,col){var n=p.servers.length,h='<article class=\"card "
"pool\" data-pool=\"'+e(p.name)+'\"><div class=\"card-head\"><i "
"class=\"sw '+col(p.name)+'\"></i><h3>'+e(p.name)+'</h3>'+b(p.up?'up':"
"'down')+'<span class=\"meta\">'+e(p.balance)+' \\u00b7 '+n+' server'+"
"(n===1?'':'s')+(p.health_checks?' \\u00b7 health checks':'')+'</span>"
"</div><div class=\"scroll\"><table class=\"servers\"><thead><tr><th>"
"Server</th><th class=\"num\">Weight</th><th>State</th><th>Health</th><th>"
"Breaker</th><th class=\"num\">Active</th><th class=\"num\">Requests"
"</th><th class=\"num\">Errors</th></tr></thead><tbody>';p.servers."
"forEach(function(s){h+='<tr data-server=\"'+e(s.name)+'\"><td "
"class=\"name\">'+e(s.name)+(s.backup?' <span class=\"meta\">backup"
"</span>':'')+'<span class=\"mono\">'+e(s.address)+'</span></td><td "
"class=\"num\">'+s.weight+'</td><td>'+b(s.admin)+'</td><td>'+"
"b(s.health)+'</td><td>'+b(s.breaker)+'</td><td class=\"num\">'+"
"num(s.active)+'</td><td class=\"num\">'+num(s.requests)+'</td><td "
"class=\"num\">'+num(s.errors)+'</td></tr>';});return h+'</tbody>"
"</table></div></article>';}\n"
"function rollout(o){var w=o.weight||0;return '<article class=\"card "
"rollout\"><div class=\"card-head\"><h3>'+e(o.route||o.name)+'</h3>'+"
"b(o.state==='running'?'up':o.state==='rolled_back'?'down':'checking',"
"o.state)+'<span class=\"meta\">'+(o.steps?'step '+o.step+'/'+o.steps+"
"' \\u00b7 ':'')+'canary '+e(o.canary||'')+' '+pct(w)+'</span></div>"
"<div class=\"stack\"><span class=\"seg c1\" style=\"width:'+w+'%\">"
"</span></div>'+(o.reason?'<div class=\"meta\">'+e(o.reason)+'</div>':"
"'')+(o.decisions&&o.decisions.length?'<ol class=\"meta decisions\">'+"
"o.decisions.slice(-5).reverse().map(function(x){return '<li><span "
"class=\"mono\">'+e(String(x.time).slice(11,19))+'</span> '+e(x.text)+"
"'</li>';}).join('')+'</ol>':'')+'</article>';}\n"
"function render(d){var ix={};d.pools.forEach(function(p,i){ix[p.name]="
"'c'+i%8;});function col(n){return ix[n]||'c7';}\n"
"$('info').innerHTML=info(d);\n"
"$('routes').innerHTML=d.routes.length?d.routes.map(function(r){return "
"route(r,col);}).join(''):'<p class=\"empty\">no routes</p>';\n"
"$('pools').innerHTML=d.pools.map(function(p){return pool(p,col);})."
"join('');\n"
"$('rollouts').innerHTML=d.rollouts.length?d.rollouts.map(rollout)."
"join(''):'<p class=\"empty\">no rollouts</p>';\n"
"live(d.info.shutting_down?'down':'',d.info.shutting_down?"
"'shutting down':'live');\n"
"document.body.setAttribute('data-updated',new Date().toISOString());}\n"
"function live(c,t){$('live').className='live '+c;$('live-text')."
"textContent=t;}\n"
"function tick(){fetch('/status.json',{cache:'no-store'}).then("
"function(r){if(!r.ok)throw new Error(r.status);return r.json();})."
"then(render).catch(function(){live('stale','offline');});}\n"
"setInterval(tick,2000);\n"
"})();\n";

/* Formats an uptime as the script's dur() does. */
static void
status_html_uptime(struct evbuffer *buf, long long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		evbuffer_add_printf(buf, "%lldd %lldh", s / 86400,
		    s % 86400 / 3600);
	else if (s >= 3600)
		evbuffer_add_printf(buf, "%lldh %lldm", s / 3600,
		    s % 3600 / 60);
	else if (s >= 60)
		evbuffer_add_printf(buf, "%lldm %llds", s / 60, s % 60);
	else
		evbuffer_add_printf(buf, "%llds", s);
}

/* Appends a percentage as the script's pct() does. */
static void
status_html_pct(struct evbuffer *buf, double v)
{
	long	tenths = (long)(v * 10 + 0.5);

	if (tenths % 10 == 0)
		evbuffer_add_printf(buf, "%ld%%", tenths / 10);
	else
		evbuffer_add_printf(buf, "%ld.%ld%%", tenths / 10,
		    tenths % 10);
}

/* Appends a state as a coloured badge. */
static void
status_html_badge(struct evbuffer *buf, const char *state)
{
	evbuffer_add_printf(buf, "<span class=\"badge %s\">%s</span>",
	    status_badge_class(state), state);
}

/* Appends the header of the page with the process figures. */
static void
status_html_header(struct evbuffer *buf)
{
	evbuffer_add_printf(buf, "<header><div class=\"brand\"><span "
	    "class=\"logo\"></span>cutover <small>%s</small></div>"
	    "<div class=\"facts\" id=\"info\"><div class=\"fact\"><span>"
	    "uptime</span><b>", PACKAGE_VERSION);
	status_html_uptime(buf, (long long)(time(NULL) - cutover.started));
	evbuffer_add_printf(buf, "</b></div><div class=\"fact\"><span>"
	    "connections</span><b>%u</b></div><div class=\"fact\"><span>"
	    "requests</span><b>%llu</b></div><div class=\"fact\"><span>pid"
	    "</span><b>%ld</b></div></div>", session_count(),
	    (unsigned long long)cutover_requests(), (long)getpid());
	evbuffer_add_printf(buf, "<div class=\"live%s\" id=\"live\"><span "
	    "class=\"dot\"></span><span id=\"live-text\">%s</span></div>"
	    "</header>\n", cutover.shutting_down ? " down" : "",
	    cutover.shutting_down ? "shutting down" : "live");
}

/* Appends the card of a route: its split as bars. */
static void
status_html_route(struct evbuffer *buf, const struct conf *conf,
    const struct route *r)
{
	size_t		 i, c;
	double		 share;
	const char	*sep = " \xc2\xb7 ";

	evbuffer_add_printf(buf, "<article class=\"card route\" "
	    "data-route=\"");
	status_html_str(buf, r->name);
	evbuffer_add_printf(buf, "\"><div class=\"card-head\"><h3>");
	status_html_str(buf, r->name);
	evbuffer_add_printf(buf, "</h3><span class=\"meta\">");
	for (i = 0; i < r->nhosts; i++) {
		evbuffer_add_printf(buf, "%s", i > 0 ? ", " : "");
		status_html_str(buf, r->hosts[i]);
	}
	if (r->nhosts == 0)
		evbuffer_add_printf(buf, "any host");
	evbuffer_add_printf(buf, "%s", sep);
	status_html_str(buf, r->path_prefix != NULL ? r->path_prefix : "/");
	evbuffer_add_printf(buf, "%sstable ", sep);
	status_html_str(buf, r->stable != NULL ? r->stable->name : "");
	if (r->sticky != STICKY_OFF) {
		evbuffer_add_printf(buf, "%ssticky %s", sep,
		    conf_sticky_name(r->sticky));
		if (r->sticky_name != NULL) {
			evbuffer_add_printf(buf, " ");
			status_html_str(buf, r->sticky_name);
		}
	}
	if (r->nmatches > 0)
		evbuffer_add_printf(buf, "%s%zu match rule%s", sep,
		    r->nmatches, r->nmatches > 1 ? "s" : "");
	evbuffer_add_printf(buf, "</span></div><div class=\"stack\">");
	for (i = 0; i < r->nsplit; i++) {
		if ((share = route_share(r, i)) <= 0)
			continue;
		c = status_pool_index(conf, r->split[i].pool) % STATUS_COLORS;
		evbuffer_add_printf(buf, "<span class=\"seg c%zu\" "
		    "style=\"width:%.2f%%\" title=\"", c, share);
		status_html_str(buf, r->split[i].pool->name);
		evbuffer_add_printf(buf, " ");
		status_html_pct(buf, share);
		evbuffer_add_printf(buf, "\"></span>");
	}
	evbuffer_add_printf(buf, "</div><table class=\"split\">");
	for (i = 0; i < r->nsplit; i++) {
		share = route_share(r, i);
		c = status_pool_index(conf, r->split[i].pool) % STATUS_COLORS;
		evbuffer_add_printf(buf, "<tr><td class=\"pool\"><i class=\"sw "
		    "c%zu\"></i>", c);
		status_html_str(buf, r->split[i].pool->name);
		if (!balancer_pool_up(r->split[i].pool)) {
			evbuffer_add_printf(buf, " ");
			status_html_badge(buf, "down");
		}
		evbuffer_add_printf(buf, "</td><td><div class=\"track\"><div "
		    "class=\"fill c%zu\" style=\"width:%.2f%%\"></div></div>"
		    "</td><td class=\"pct\">", c, share);
		status_html_pct(buf, share);
		evbuffer_add_printf(buf, "</td><td class=\"conf\">configured ");
		status_html_pct(buf, status_conf_share(r, i));
		evbuffer_add_printf(buf, "</td></tr>");
	}
	evbuffer_add_printf(buf, "</table></article>");
}

/* Appends one server row of a pool's table. */
static void
status_html_server(struct evbuffer *buf, const struct server *s)
{
	evbuffer_add_printf(buf, "<tr data-server=\"");
	status_html_str(buf, s->name);
	evbuffer_add_printf(buf, "\"><td class=\"name\">");
	status_html_str(buf, s->name);
	if (s->backup)
		evbuffer_add_printf(buf, " <span class=\"meta\">backup</span>");
	evbuffer_add_printf(buf, "<span class=\"mono\">");
	status_html_str(buf, s->addr_text != NULL ? s->addr_text : "");
	evbuffer_add_printf(buf, "</span></td><td class=\"num\">%d</td><td>",
	    s->weight);
	status_html_badge(buf, conf_admin_name(s->admin));
	evbuffer_add_printf(buf, "</td><td>");
	status_html_badge(buf, health_state_name(s->health));
	evbuffer_add_printf(buf, "</td><td>");
	status_html_badge(buf, breaker_state_name(s->breaker));
	evbuffer_add_printf(buf, "</td><td class=\"num\">%u</td><td "
	    "class=\"num\">%llu</td><td class=\"num\">%llu</td></tr>",
	    s->active, (unsigned long long)s->requests,
	    (unsigned long long)s->errors);
}

/* Appends the card of a pool: its servers in a table. */
static void
status_html_pool(struct evbuffer *buf, const struct conf *conf,
    const struct pool *p)
{
	size_t	i;

	evbuffer_add_printf(buf, "<article class=\"card pool\" "
	    "data-pool=\"");
	status_html_str(buf, p->name);
	evbuffer_add_printf(buf, "\"><div class=\"card-head\"><i class=\"sw "
	    "c%zu\"></i><h3>", status_pool_index(conf, p) % STATUS_COLORS);
	status_html_str(buf, p->name);
	evbuffer_add_printf(buf, "</h3>");
	status_html_badge(buf, balancer_pool_up(p) ? "up" : "down");
	evbuffer_add_printf(buf, "<span class=\"meta\">%s \xc2\xb7 %zu "
	    "server%s%s</span></div>", p->balance == BALANCE_LEAST_CONN ?
	    "least_conn" : "roundrobin", p->nservers,
	    p->nservers == 1 ? "" : "s",
	    p->health_path != NULL ? " \xc2\xb7 health checks" : "");
	evbuffer_add_printf(buf, "<div class=\"scroll\"><table "
	    "class=\"servers\"><thead><tr><th>Server</th>"
	    "<th class=\"num\">Weight</th>"
	    "<th>State</th><th>Health</th><th>Breaker</th>"
	    "<th class=\"num\">Active</th><th class=\"num\">Requests</th>"
	    "<th class=\"num\">Errors</th></tr></thead><tbody>");
	for (i = 0; i < p->nservers; i++)
		status_html_server(buf, p->servers[i]);
	evbuffer_add_printf(buf, "</tbody></table></div></article>");
}

/* Appends the card of a rollout: state, step, canary share, decisions. */
static void
status_html_rollout(struct evbuffer *buf, const struct rollout_view *v)
{
	struct tm	tm;
	char		when[16];
	size_t		i;

	evbuffer_add_printf(buf, "<article class=\"card rollout\"><div "
	    "class=\"card-head\"><h3>");
	status_html_str(buf, v->route);
	/* The script's badge: up while running, down once rolled back. */
	evbuffer_add_printf(buf, "</h3><span class=\"badge %s\">%s</span>"
	    "<span class=\"meta\">", strcmp(v->state, "running") == 0 ?
	    "ok" : strcmp(v->state, "rolled_back") == 0 ? "bad" : "warn",
	    v->state);
	if (v->steps > 0)
		evbuffer_add_printf(buf, "step %zu/%zu \xc2\xb7 ", v->step,
		    v->steps);
	evbuffer_add_printf(buf, "canary ");
	status_html_str(buf, v->canary);
	evbuffer_add_printf(buf, " ");
	status_html_pct(buf, v->weight);
	evbuffer_add_printf(buf, "</span></div><div class=\"stack\"><span "
	    "class=\"seg c1\" style=\"width:%.2f%%\"></span></div>",
	    v->weight);
	if (v->reason[0] != '\0') {
		evbuffer_add_printf(buf, "<div class=\"meta\">");
		status_html_str(buf, v->reason);
		evbuffer_add_printf(buf, "</div>");
	}
	if (v->ndecisions > 0)
		evbuffer_add_printf(buf, "<ol class=\"meta decisions\">");
	for (i = 0; i < v->ndecisions; i++) {
		gmtime_r(&v->when[i], &tm);
		strftime(when, sizeof when, "%H:%M:%S", &tm);
		evbuffer_add_printf(buf, "<li><span class=\"mono\">%s</span> ",
		    when);
		status_html_str(buf, v->text[i]);
		evbuffer_add_printf(buf, "</li>");
	}
	if (v->ndecisions > 0)
		evbuffer_add_printf(buf, "</ol>");
	evbuffer_add_printf(buf, "</article>");
}

/* Renders the page as the script would from /status.json. */
void
status_render_html(struct evbuffer *buf)
{
	const struct conf	*conf = cutover.conf;
	struct rollout_view	 v;
	size_t			 i;

	evbuffer_add_printf(buf, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width,initial-scale=1\">"
	    "<title>cutover status</title>\n<style>\n%s</style></head>\n"
	    "<body>\n", status_css);
	status_html_header(buf);
	evbuffer_add_printf(buf, "<main>\n<h2>Routes</h2>\n"
	    "<div id=\"routes\">");
	for (i = 0; conf != NULL && i < conf->nroutes; i++)
		status_html_route(buf, conf, conf->routes[i]);
	if (conf == NULL || conf->nroutes == 0)
		evbuffer_add_printf(buf, "<p class=\"empty\">no routes</p>");
	evbuffer_add_printf(buf, "</div>\n<h2>Pools</h2>\n"
	    "<div id=\"pools\" class=\"grid\">");
	for (i = 0; conf != NULL && i < conf->npools; i++)
		status_html_pool(buf, conf, conf->pools[i]);
	/* Rendered here too: a browser without script shows them. */
	evbuffer_add_printf(buf, "</div>\n<h2>Rollouts</h2>\n"
	    "<div id=\"rollouts\">");
	for (i = 0; rollout_view(i, &v) == 0; i++)
		status_html_rollout(buf, &v);
	if (i == 0)
		evbuffer_add_printf(buf, "<p class=\"empty\">no rollouts</p>");
	evbuffer_add_printf(buf, "</div>\n"
	    "</main>\n<footer>Refreshes every 2 s \xc2\xb7 "
	    "<a href=\"/status.json\">status.json</a> \xc2\xb7 "
	    "<a href=\"/metrics\">metrics</a></footer>\n"
	    "<script>\n%s</script>\n</body></html>\n", status_js);
}

/* GET /live: the event loop turns. */
static int
status_live(struct evbuffer *buf, const char **type)
{
	*type = "text/plain; charset=utf-8";
	evbuffer_add_printf(buf, "ok\n");
	return (200);
}

/* GET /ready: 200 while the proxy takes traffic, 503 once it stops. */
static int
status_ready_page(struct evbuffer *buf, const char **type)
{
	*type = "text/plain; charset=utf-8";
	if (status_ready()) {
		evbuffer_add_printf(buf, "ready\n");
		return (200);
	}
	evbuffer_add_printf(buf, "%s\n", cutover.shutting_down ?
	    "shutting down" : "not ready");
	return (503);
}

/* GET /metrics: the Prometheus text exposition. */
static int
status_metrics(struct evbuffer *buf, const char **type)
{
	*type = "text/plain; version=0.0.4; charset=utf-8";
	metrics_render(buf);
	return (200);
}

/* GET /status.json */
static int
status_json(struct evbuffer *buf, const char **type)
{
	*type = "application/json";
	status_render_json(buf);
	return (200);
}

/* GET /status: the page. */
static int
status_html(struct evbuffer *buf, const char **type)
{
	*type = "text/html; charset=utf-8";
	status_render_html(buf);
	return (200);
}

/* The pages of the endpoint, by path. */
static const struct status_page {
	const char	*path;
	status_page_cb	 fn;
} status_pages[] = {
	{ "/live",		status_live },
	{ "/ready",		status_ready_page },
	{ "/metrics",		status_metrics },
	{ "/status",		status_html },
	{ "/status.json",	status_json },
};

/* Returns the reason phrase of the statuses we send. */
static const char *
status_reason(int code)
{
	switch (code) {
	case 200:
		return ("OK");
	case 400:
		return ("Bad Request");
	case 404:
		return ("Not Found");
	case 405:
		return ("Method Not Allowed");
	case 414:
		return ("URI Too Long");
	case 431:
		return ("Request Header Fields Too Large");
	case 501:
		return ("Not Implemented");
	case 503:
		return ("Service Unavailable");
	case 505:
		return ("HTTP Version Not Supported");
	}
	return ("Error");
}

/*
 * One connection of the endpoint.  Its requests are parsed by the data
 * path's parser and answered one at a time: a request head must be whole
 * within STATUS_TIMEOUT of the connection or of the moment the last
 * answer left, and an answer must make progress every STATUS_TIMEOUT.
 * A body sent with a request is not read: the answer closes the
 * connection.  A client may half-close after its requests: those that
 * came whole are answered.  A connection closed with bytes of the client
 * unread lingers as the data path's do (session_shut()): half-closed,
 * what comes is dropped until the client closes or STATUS_LINGER passes,
 * so that the kernel does not answer those bytes with a reset that
 * would cut the answer short.
 */
#define STATUS_LINGER	5	/* seconds */

struct status_conn {
	TAILQ_ENTRY(status_conn) entry;
	struct status		*st;
	struct bufferevent	*bev;
	struct event		*deadline;	/* head late; lingering done */
	struct http_msg		 msg;
	unsigned		 closing:1;	/* close once output is out */
	unsigned		 eof:1;		/* the client half-closed */
	unsigned		 lingering:1;
};

/* Closes a connection; the listener takes more once below the limit. */
static void
status_conn_free(struct status_conn *c)
{
	struct status	*st = c->st;

	TAILQ_REMOVE(&st->conns, c, entry);
	bufferevent_free(c->bev);
	event_free(c->deadline);
	free(c);
	if (st->nconns-- == STATUS_MAX_CONNS &&
	    !event_pending(st->backoff, EV_TIMEOUT, NULL))
		evconnlistener_enable(st->lev);
}

/* Waits for the next request head, STATUS_TIMEOUT at most. */
static void
status_conn_wait(struct status_conn *c)
{
	static const struct timeval	tv = { STATUS_TIMEOUT, 0 };

	if (!evtimer_pending(c->deadline, NULL))
		evtimer_add(c->deadline, &tv);
}

/*
 * The last answer is out: closes, or lingers while the client may still
 * send bytes nobody will read.  Returns -1 when c is freed.
 */
static int
status_conn_end(struct status_conn *c)
{
	static const struct timeval	tv = { STATUS_LINGER, 0 };
	struct evbuffer			*in = bufferevent_get_input(c->bev);
	int				 fd = bufferevent_getfd(c->bev);
	char				 b;

	if (c->eof || (evbuffer_get_length(in) == 0 &&
	    recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)) {
		status_conn_free(c);
		return (-1);
	}
	c->lingering = 1;
	evbuffer_drain(in, evbuffer_get_length(in));
	(void)shutdown(fd, SHUT_WR);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_enable(c->bev, EV_READ);
	evtimer_add(c->deadline, &tv);
	return (0);
}

/* Returns the path of a request target, without query: "" for none. */
static const char *
status_path(const char *t, size_t len, char *buf, size_t size)
{
	const char	*host, *path;
	size_t		 hostlen, n = 0;

	http_target_split(t, len, &host, &hostlen, &path, &len);
	if (len > 0 && path[0] == '/') {
		while (n < len && path[n] != '?' && path[n] != '#')
			n++;
	}
	if (n >= size)
		n = 0;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return (buf);
}

/* Queues an answer: status, type and body, then keep-alive or close. */
static void
status_conn_answer(struct status_conn *c, int code, const char *type,
    struct evbuffer *body, int head_only, int allow)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		 date[64];
	time_t		 now = time(NULL);
	struct tm	 tm;

	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: %s\r\nCache-Control: no-store\r\n"
	    "Content-Length: %zu\r\n%s%s\r\n", code, status_reason(code), date,
	    type, evbuffer_get_length(body),
	    allow ? "Allow: GET, HEAD\r\n" : "",
	    c->closing ? "Connection: close\r\n" :
	    c->msg.version_minor == 0 ? "Connection: keep-alive\r\n" : "");
	if (head_only)
		evbuffer_drain(body, evbuffer_get_length(body));
	else
		evbuffer_add_buffer(out, body);
}

/* Answers the request whose head c->msg holds, in buf. */
static void
status_conn_request(struct status_conn *c, const char *buf)
{
	const struct http_msg	*m = &c->msg;
	const char		*type = "text/plain", *path;
	struct evbuffer		*body;
	char			 pbuf[64];
	size_t			 i, n;
	int			 code = 404, allow = 0;

	if ((m->flags & HTTP_F_CHUNKED) || ((m->flags & HTTP_F_HAS_CL) &&
	    m->content_length > 0) || (m->flags & HTTP_F_CONN_CLOSE) ||
	    (m->version_minor == 0 && !(m->flags & HTTP_F_CONN_KEEPALIVE)))
		c->closing = 1;
	if ((body = evbuffer_new()) == NULL) {
		c->closing = 1;
		return;
	}
	path = status_path(buf + m->target_off, m->target_len, pbuf,
	    sizeof pbuf);
	n = sizeof status_pages / sizeof status_pages[0];
	for (i = 0; i < n; i++) {
		if (strcmp(path, status_pages[i].path) == 0)
			break;
	}
	if (i == n)
		evbuffer_add_printf(body, "not found\n");
	else if (m->method != HTTP_GET && m->method != HTTP_HEAD) {
		code = 405;
		allow = 1;
		evbuffer_add_printf(body, "method not allowed\n");
	} else
		code = status_pages[i].fn(body, &type);
	status_conn_answer(c, code, type, body, m->method == HTTP_HEAD, allow);
	evbuffer_free(body);
}

/*
 * Answers the requests that have arrived whole, one after another while
 * the answers leave; ends with the connection freed (-1) or waiting.
 */
static int
status_conn_serve(struct status_conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct evbuffer		*body;
	struct http_limits	 lim = {
		STATUS_MAX_HEADERS, STATUS_MAX_HEADERS
	};
	enum http_parse_result	 r;
	const char		*buf;
	size_t			 len;

	if (c->lingering) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return (0);
	}
	while (!c->closing && evbuffer_get_length(out) == 0 &&
	    (len = evbuffer_get_length(in)) > 0) {
		if (len > STATUS_MAX_HEADERS + 1)
			len = STATUS_MAX_HEADERS + 1;
		buf = (const char *)evbuffer_pullup(in, len);
		r = http_parse_head(&c->msg, buf, len, &lim);
		if (r == HTTP_PARSE_AGAIN)
			break;
		/* Whole: the deadline waits for the answer to leave. */
		evtimer_del(c->deadline);
		if (r == HTTP_PARSE_ERROR) {
			c->closing = 1;
			if ((body = evbuffer_new()) == NULL)
				break;
			evbuffer_add_printf(body, "%s\n", c->msg.error);
			status_conn_answer(c, c->msg.error_status,
			    "text/plain", body, 0, 0);
			evbuffer_free(body);
			break;
		}
		status_conn_request(c, buf);
		evbuffer_drain(in, c->msg.head_len);
		http_msg_init(&c->msg, 1);
	}
	if (evbuffer_get_length(out) != 0)
		return (0);
	/* Half-closed, with no whole request left: done. */
	if (c->eof)
		c->closing = 1;
	if (c->closing) {
		bufferevent_disable(c->bev, EV_READ);
		return (status_conn_end(c));
	}
	status_conn_wait(c);
	return (0);
}

/* Bytes came, or the output left: the main thread runs under the lock. */
static void
status_conn_read_cb(struct bufferevent *bev, void *arg)
{
	worker_lock();
	(void)status_conn_serve(arg);
	worker_unlock();
}

static void
status_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct status_conn	*c = arg;

	/* A client may half-close once its requests are out. */
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    !(what & BEV_EVENT_ERROR) && !c->lingering) {
		c->eof = 1;
		status_conn_read_cb(bev, c);
		return;
	}
	status_conn_free(c);
}

static void
status_conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct status_conn	*c = arg;

	if (!c->lingering)
		log_debug("status_listen %s: no whole request within %d s: "
		    "closed", c->st->addr, STATUS_TIMEOUT);
	status_conn_free(c);
}

/* A client connected; at STATUS_MAX_CONNS the listener waits for one to go. */
static void
status_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	static const struct timeval	 tv = { STATUS_TIMEOUT, 0 };
	struct status			*st = arg;
	struct status_conn		*c;

	c = xcalloc(1, sizeof *c);
	c->st = st;
	if ((c->bev = bufferevent_socket_new(st->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (c->deadline = evtimer_new(st->base, status_conn_deadline_cb,
	    c)) == NULL) {
		log_error("status_listen %s: cannot set up a connection",
		    st->addr);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&st->conns, c, entry);
	if (++st->nconns == STATUS_MAX_CONNS) {
		log_warn("status_listen %s: %d connections open, accepting "
		    "more once one closes", st->addr, STATUS_MAX_CONNS);
		evconnlistener_disable(lev);
	}
	/* Pipelined requests wait in the input up to two heads' worth. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * STATUS_MAX_HEADERS);
	bufferevent_setcb(c->bev, status_conn_read_cb, status_conn_read_cb,
	    status_conn_event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	http_msg_init(&c->msg, 1);
	status_conn_wait(c);
}

/*
 * Out of descriptors (as slow clients holding many connections can make
 * it), accept fails at once again as long as a connection waits in the
 * backlog: the listener rests instead of spinning the event loop, which
 * the proxy's own listeners share (see listener_error_cb()).
 */
static void
status_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct status	*st = arg;
	int		 saved = errno;

	log_error("status_listen %s: accept: %s", st->addr, strerror(saved));
	listener_rest(lev, st->backoff, saved);
}

/*
 * Opens an endpoint on addr, resolved to ss by the config's load (no name
 * is resolved on the event loop); NULL (logged) when it cannot.
 */
static struct status *
status_open(struct event_base *base, const char *addr,
    const struct sockaddr_storage *ss, socklen_t sslen)
{
	struct status	*st;
	int		 saved;

	st = xcalloc(1, sizeof *st);
	TAILQ_INIT(&st->conns);
	st->base = base;
	/* IPv6 only, as the listeners: [::] leaves IPv4 to them. */
	st->lev = evconnlistener_new_bind(base, status_accept_cb, st,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	    (ss->ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0), 64,
	    (const struct sockaddr *)ss, sslen);
	if (st->lev == NULL) {
		/* status_prepare() tells EADDRINUSE apart. */
		saved = errno;
		log_error("status_listen %s: %s", addr, strerror(saved));
		free(st);
		errno = saved;
		return (NULL);
	}
	st->backoff = listener_rest_timer(base, st->lev);
	evconnlistener_set_error_cb(st->lev, status_accept_error_cb);
	st->addr = xstrdup(addr);
	memcpy(&st->ss, ss, sslen);
	st->sslen = sslen;
	log_info("status endpoint on http://%s/status", addr);
	return (st);
}

/* Closes an endpoint and its connections. */
static void
status_close(struct status *st)
{
	if (st == NULL)
		return;
	while (!TAILQ_EMPTY(&st->conns))
		status_conn_free(TAILQ_FIRST(&st->conns));
	event_free(st->backoff);
	evconnlistener_free(st->lev);
	free(st->addr);
	free(st);
}

/* Opens the endpoint of conf, if it has one. */
int
status_start(struct event_base *base, const struct conf *conf)
{
	if (conf->status_listen == NULL)
		return (0);
	if ((status = status_open(base, conf->status_listen,
	    &conf->status_addr, conf->status_addrlen)) == NULL)
		return (-1);
	return (0);
}

/* Returns the port of an IPv4 or IPv6 address, in network order. */
static in_port_t
status_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return (((const struct sockaddr_in6 *)ss)->sin6_port);
	return (((const struct sockaddr_in *)ss)->sin_port);
}

/*
 * Before a reload changes anything: opens the endpoint of a status_listen
 * that moved, so that an address that cannot be bound refuses the reload
 * with the running config untouched, as a listener's address does.  Only
 * when the port is held by this process and the reload lets go of it
 * (the endpoint itself, under another spelling, or a bind the new config
 * drops) must the bind wait for status_reload().
 */
int
status_prepare(struct event_base *base, const struct conf *old,
    const struct conf *conf, struct conf_errors *errs)
{
	const struct sockaddr	*sa = (const struct sockaddr *)
				    &conf->status_addr;

	if (conf->status_listen == NULL || (status != NULL &&
	    strcmp(status->addr, conf->status_listen) == 0))
		return (0);
	if ((status_next = status_open(base, conf->status_listen,
	    &conf->status_addr, conf->status_addrlen)) != NULL)
		return (0);
	if (errno == EADDRINUSE && ((status != NULL &&
	    status->ss.ss_family == sa->sa_family &&
	    status_port(&status->ss) == status_port(&conf->status_addr)) ||
	    (conf_find_listener_addr(old, sa) != NULL &&
	    conf_find_listener_addr(conf, sa) == NULL)))
		return (0);
	conf_errors_add(errs, "status_listen: cannot listen on %s: %s",
	    conf->status_listen, strerror(errno));
	return (-1);
}

/* Closes what status_prepare() opened for a reload that was refused. */
void
status_abort(void)
{
	status_close(status_next);
	status_next = NULL;
}

/* Moves, opens or closes the endpoint after a reload. */
int
status_reload(struct event_base *base, const struct conf *conf)
{
	struct status	*st, old;

	if (status_next != NULL) {
		status_close(status);
		status = status_next;
		status_next = NULL;
		return (0);
	}
	if (conf->status_listen == NULL) {
		if (status != NULL)
			log_info("status endpoint on %s closed", status->addr);
		status_close(status);
		status = NULL;
		return (0);
	}
	if (status != NULL && strcmp(status->addr, conf->status_listen) == 0)
		return (0);
	if ((st = status_open(base, conf->status_listen, &conf->status_addr,
	    conf->status_addrlen)) != NULL || status == NULL) {
		status_close(status);
		status = st;
		return (st != NULL ? 0 : -1);
	}
	/* The old endpoint may hold the port under another spelling. */
	old = *status;
	old.addr = xstrdup(status->addr);
	status_close(status);
	if ((status = status_open(base, conf->status_listen,
	    &conf->status_addr, conf->status_addrlen)) == NULL) {
		log_warn("status endpoint stays on %s", old.addr);
		status = status_open(base, old.addr, &old.ss, old.sslen);
	}
	free(old.addr);
	return (status != NULL &&
	    strcmp(status->addr, conf->status_listen) == 0 ? 0 : -1);
}

/* Closes the endpoint. */
void
status_stop(void)
{
	status_close(status);
	status = NULL;
}
