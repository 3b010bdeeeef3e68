/*
 * report_html.c - one self-contained HTML page summarising a scan history.
 *
 * Public: dg_report_html, dg_report_html_verdict_index.
 *
 * Sections (each a <section id=...> the tests look for): "verdicts" (a stacked bar chart of
 * the verdict counts of each run, inline SVG), "coverage" (DANE coverage of the newest run),
 * "operators" (MX operators by number of domains, with how many are DANE-OK and failing),
 * "fail-list" and "domains" (a table sorted and filtered by a small inline script).
 *
 * Safety: every string that comes from the report (domains, codes, MX names, reasons, the
 * database name) goes through html_put(), which escapes & < > " ' and drops control bytes,
 * so neither markup nor attributes can be injected; the script embeds no data (it reads the
 * table from the DOM), and a Content-Security-Policy forbids every fetch, so opening the
 * page never touches the network.
 *
 * Ownership: the report is borrowed; the operator table is freed before returning.
 */
#include "report_int.h"

#include <daneguard/report.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { HTML_MAX_OPERATORS = 10000, HTML_TOP_OPERATORS = 25, CHART_W = 720, CHART_H = 200,
       CHART_BAR_MAX = 48 };

/** Domains of one MX operator in the newest run. */
struct html_op {
	char name[DG_NAME_BUF_SIZE];
	size_t domains, ok, failing;
};

/** The operator table (html_ops_count). */
struct html_ops {
	struct html_op *v;
	size_t n, cap, dropped;
};

static void html_put(FILE *out, const char *s);
static void html_head(const struct dg_html_report *r, FILE *out);
static void html_chart(const struct dg_html_report *r, FILE *out);
static void html_chart_bar(const struct dg_html_run *run, size_t i, double bw, size_t max,
			   FILE *out);
static void html_legend(FILE *out);
static void html_coverage(const struct dg_html_report *r, FILE *out);
static void html_operators(const struct dg_html_report *r, FILE *out);
static void html_ops_count(struct html_ops *ops, const struct dg_html_domain *d);
static void html_ops_add(struct html_ops *ops, const char *op, const char *verdict);
static const char *html_operator(const char *host, size_t len, size_t *op_len);
static int html_op_cmp(const void *a, const void *b);
static void html_fails(const struct dg_html_report *r, FILE *out);
static void html_domains(const struct dg_html_report *r, FILE *out);
static void html_script(FILE *out);
static bool verdict_fails(const char *verdict);

/* Colours of the verdict buckets (dg_verdict order, then "other"). */
static const char *const verdict_colour[DG_HTML_VERDICTS] = {
    "#2e7d32", "#9ccc65", "#c62828", "#9e9e9e", "#6a1b9a", "#ef6c00", "#90a4ae", "#5d4037"};

size_t dg_report_html_verdict_index(const char *verdict)
{
	for (size_t i = 0; i + 1 < DG_HTML_VERDICTS; i++)
		if (verdict != NULL && strcmp(verdict, dg_verdict_str((enum dg_verdict)i)) == 0)
			return i;
	return DG_HTML_VERDICTS - 1;
}

static const char *verdict_name(size_t i)
{
	return i + 1 < DG_HTML_VERDICTS ? dg_verdict_str((enum dg_verdict)i) : "other";
}

static bool verdict_fails(const char *verdict)
{
	return verdict != NULL &&
	       (strcmp(verdict, "dane-fail") == 0 || strcmp(verdict, "dnssec-bogus") == 0);
}

enum dg_status dg_report_html(const struct dg_html_report *r, FILE *out, struct dg_err *err)
{
	html_head(r, out);
	html_chart(r, out);
	html_coverage(r, out);
	html_operators(r, out);
	html_fails(r, out);
	html_domains(r, out);
	html_script(out);
	fputs("</main>\n</body>\n</html>\n", out);
	if (fflush(out) != 0 || ferror(out))
		return dg_err_set(err, DG_E_IO, "writing the HTML report failed");
	return DG_OK;
}

/* Text content or attribute value: escape the five HTML specials, drop control bytes. */
static void html_put(FILE *out, const char *s)
{
	if (s == NULL)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fputc(' ', out);
			else
				fputc(c, out);
		}
	}
}

static void html_head(const struct dg_html_report *r, FILE *out)
{
	char when[REPORT_TIME_MAX];

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
	      "<title>daneguard report: ", out);
	html_put(out, r->db_name);
	fputs("</title>\n<style>\n"
	      "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\n"
	      "main{max-width:1100px;margin:auto;padding:1em}\n"
	      "section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;"
	      "margin:1em 0}\n"
	      "table{border-collapse:collapse;width:100%}\n"
	      "th,td{border-bottom:1px solid #eee;padding:.25em .5em;text-align:left;"
	      "vertical-align:top}\n"
	      "th{cursor:pointer;background:#f0f0f0;user-select:none}\n"
	      "th[aria-sort=ascending]::after{content:' \\25B2'}\n"
	      "th[aria-sort=descending]::after{content:' \\25BC'}\n"
	      "td.reasons{font-size:12px;color:#555;max-width:480px;word-break:break-word}\n"
	      ".v-dane-fail,.v-dnssec-bogus{color:#c62828;font-weight:bold}\n"
	      ".v-dane-ok{color:#2e7d32}\n.legend span{margin-right:1em}\n"
	      ".sw{display:inline-block;width:.8em;height:.8em;margin-right:.3em}\n"
	      "</style>\n</head>\n<body>\n<main>\n<h1>daneguard report</h1>\n<p>Database ", out);
	html_put(out, r->db_name);
	fprintf(out, ", generated %s; %zu runs, newest run %" PRId64 " with %zu domains.</p>\n",
		dg_report_time(r->generated, when, sizeof(when)), r->n_runs, r->domains_run,
		r->n_domains);
}

static void html_chart(const struct dg_html_report *r, FILE *out)
{
	size_t max = 1;
	double bw = r->n_runs > 0 ? (double)CHART_W / (double)r->n_runs : CHART_W;

	if (bw > CHART_BAR_MAX)
		bw = CHART_BAR_MAX;

	for (size_t i = 0; i < r->n_runs; i++) {
		size_t t = 0;

		for (size_t v = 0; v < DG_HTML_VERDICTS; v++)
			t += r->runs[i].count[v];
		if (t > max)
			max = t;
	}
	fputs("<section id=\"verdicts\">\n<h2>Verdicts per run</h2>\n", out);
	if (r->n_runs == 0)
		fputs("<p>No runs recorded.</p>\n", out);
	fprintf(out, "<svg role=\"img\" aria-label=\"verdict counts per run\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		CHART_W, CHART_H + 20, CHART_W, CHART_H + 20);
	for (size_t i = 0; i < r->n_runs; i++)
		html_chart_bar(&r->runs[i], i, bw, max, out);
	fprintf(out, "<text x=\"0\" y=\"%d\" font-size=\"11\">max %zu domains per run</text>\n",
		CHART_H + 16, max);
	fputs("</svg>\n", out);
	html_legend(out);
	fputs("</section>\n", out);
}

/* One run's stacked bar, verdict buckets from the bottom up, with a tooltip. */
static void html_chart_bar(const struct dg_html_run *run, size_t i, double bw, size_t max,
			   FILE *out)
{
	double y = CHART_H;

	fprintf(out, "<g><title>run %" PRId64 "%s:", run->id, run->complete ? "" : " (incomplete)");
	for (size_t v = 0; v < DG_HTML_VERDICTS; v++)
		if (run->count[v] > 0)
			fprintf(out, " %s %zu", verdict_name(v), run->count[v]);
	fputs("</title>\n", out);
	for (size_t v = 0; v < DG_HTML_VERDICTS; v++) {
		double h = (double)run->count[v] * CHART_H / (double)max;

		if (run->count[v] == 0)
			continue;
		y -= h;
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"/>\n", (double)i * bw + 1, y, bw > 3 ? bw - 2 : bw, h,
			verdict_colour[v]);
	}
	fputs("</g>\n", out);
}

static void html_legend(FILE *out)
{
	fputs("<p class=\"legend\">", out);
	for (size_t v = 0; v < DG_HTML_VERDICTS; v++)
		fprintf(out, "<span><i class=\"sw\" style=\"background:%s\"></i>%s</span>",
			verdict_colour[v], verdict_name(v));
	fputs("</p>\n", out);
}

static void html_coverage(const struct dg_html_report *r, FILE *out)
{
	const struct dg_html_run *last = r->n_runs > 0 ? &r->runs[r->n_runs - 1] : NULL;
	size_t total = 0, ok = 0, partial = 0;
	double pct;

	for (size_t v = 0; last != NULL && v < DG_HTML_VERDICTS; v++)
		total += last->count[v];
	if (last != NULL) {
		ok = last->count[DG_VERDICT_DANE_OK];
		partial = last->count[DG_VERDICT_DANE_PARTIAL];
	}
	pct = total > 0 ? 100.0 * (double)(ok + partial) / (double)total : 0.0;
	fprintf(out, "<section id=\"coverage\">\n<h2>DANE coverage</h2>\n<p>%zu of %zu domains "
		"(%.1f%%) protected by DANE in the newest run: %zu fully (dane-ok), %zu partly "
		"(dane-partial).</p>\n", ok + partial, total, pct, ok, partial);
	fprintf(out, "<svg role=\"img\" aria-label=\"DANE coverage\" width=\"%d\" height=\"24\" "
		"xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"%d\" height=\"24\" "
		"fill=\"#eee\"/><rect width=\"%.1f\" height=\"24\" fill=\"#2e7d32\"/>"
		"<text x=\"6\" y=\"17\" font-size=\"13\">%.1f%%</text></svg>\n</section>\n",
		CHART_W, CHART_W, pct * CHART_W / 100.0, pct);
}

static void html_operators(const struct dg_html_report *r, FILE *out)
{
	struct html_ops ops = {0};

	for (size_t i = 0; i < r->n_domains; i++)
		html_ops_count(&ops, &r->domains[i]);
	if (ops.n > 0)
		qsort(ops.v, ops.n, sizeof(*ops.v), html_op_cmp);
	fputs("<section id=\"operators\">\n<h2>Top MX operators</h2>\n<p>By number of domains "
	      "of the newest run whose MX hosts they run (the last two labels of each MX host "
	      "name).</p>\n<table>\n<thead><tr><th>Operator</th><th>Domains</th><th>DANE-OK</th>"
	      "<th>Failing</th><th>Other</th></tr></thead>\n<tbody>\n", out);
	for (size_t i = 0; i < ops.n && i < HTML_TOP_OPERATORS; i++) {
		const struct html_op *o = &ops.v[i];

		fputs("<tr><td>", out);
		html_put(out, o->name);
		fprintf(out, "</td><td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n",
			o->domains, o->ok, o->failing, o->domains - o->ok - o->failing);
	}
	fputs("</tbody>\n</table>\n", out);
	if (ops.dropped > 0)
		fprintf(out, "<p>%zu MX names beyond %d operators not counted.</p>\n", ops.dropped,
			HTML_MAX_OPERATORS);
	fputs("</section>\n", out);
	free(ops.v);
}

/* Count @p d once for each distinct operator of its MX set. */
static void html_ops_count(struct html_ops *ops, const struct dg_html_domain *d)
{
	const char *p = d->mx_set != NULL ? d->mx_set : "";
	char seen[4][DG_NAME_BUF_SIZE];
	size_t n_seen = 0;

	for (size_t guard = 0; *p != '\0' && guard < 64; guard++) {
		size_t len = strcspn(p, ","), op_len;
		const char *op = html_operator(p, len, &op_len);
		char name[DG_NAME_BUF_SIZE];
		bool dup = false;

		snprintf(name, sizeof(name), "%.*s", (int)(op_len < DG_NAME_MAX ? op_len
									 : DG_NAME_MAX), op);
		for (size_t k = 0; k < n_seen; k++)
			dup = dup || strcmp(seen[k], name) == 0;
		if (!dup && name[0] != '\0') {
			html_ops_add(ops, name, d->verdict);
			if (n_seen < 4)
				snprintf(seen[n_seen++], sizeof(seen[0]), "%s", name);
		}
		p += len;
		if (*p == ',')
			p++;
	}
}

/* The registered-domain part (last two labels, no trailing dot) of host p[0..len). */
static const char *html_operator(const char *host, size_t len, size_t *op_len)
{
	size_t end = len, dots = 0, start = 0;

	while (end > 0 && host[end - 1] == '.')
		end--;
	for (size_t i = end; i > 0; i--)
		if (host[i - 1] == '.' && ++dots == 2) {
			start = i;
			break;
		}
	*op_len = end - start;
	return host + start;
}

static void html_ops_add(struct html_ops *ops, const char *op, const char *verdict)
{
	struct html_op *o = NULL;

	for (size_t i = 0; i < ops->n && o == NULL; i++)
		if (strcmp(ops->v[i].name, op) == 0)
			o = &ops->v[i];
	if (o == NULL) {
		if (ops->n == HTML_MAX_OPERATORS) {
			ops->dropped++;
			return;
		}
		if (ops->n == ops->cap) {
			ops->cap = ops->cap ? ops->cap * 2 : 64;
			ops->v = dg_xrealloc(ops->v, ops->cap * sizeof(*ops->v));
		}
		o = &ops->v[ops->n++];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", op);
	}
	o->domains++;
	if (verdict != NULL && strcmp(verdict, "dane-ok") == 0)
		o->ok++;
	else if (verdict_fails(verdict))
		o->failing++;
}

static int html_op_cmp(const void *a, const void *b)
{
	const struct html_op *x = a, *y = b;

	if (x->domains != y->domains)
		return x->domains < y->domains ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void html_fails(const struct dg_html_report *r, FILE *out)
{
	char since[REPORT_TIME_MAX];

	fprintf(out, "<section id=\"fail-list\">\n<h2>Fail list</h2>\n<p>%zu domains whose DANE "
		"has been broken in consecutive complete runs (daneguard report fail-list).</p>\n"
		"<table>\n<thead><tr><th>Domain</th><th>Verdict</th><th>Codes</th><th>Since</th>"
		"<th>Runs</th></tr></thead>\n<tbody>\n", r->n_fails);
	for (size_t i = 0; i < r->n_fails; i++) {
		const struct dg_html_fail *f = &r->fails[i];

		fputs("<tr><td>", out);
		html_put(out, f->domain);
		fputs("</td><td>", out);
		html_put(out, f->verdict);
		fputs("</td><td>", out);
		html_put(out, f->codes);
		fprintf(out, "</td><td>%s</td><td>%zu</td></tr>\n",
			dg_report_time(f->since, since, sizeof(since)), f->runs);
	}
	fputs("</tbody>\n</table>\n</section>\n", out);
}

static void html_domains(const struct dg_html_report *r, FILE *out)
{
	fprintf(out, "<section id=\"domains\">\n<h2>Domains of run %" PRId64 "</h2>\n<p>"
		"<label>Filter <input id=\"filter\" type=\"search\" placeholder=\"domain, code, "
		"MX or reason\"></label> <label>Verdict <select id=\"verdict-filter\">"
		"<option value=\"\">all</option>", r->domains_run);
	for (size_t v = 0; v + 1 < DG_HTML_VERDICTS; v++)
		fprintf(out, "<option>%s</option>", verdict_name(v));
	fprintf(out, "</select></label> <span id=\"shown\">%zu</span> of %zu shown; click a "
		"column to sort.</p>\n<table id=\"domain-table\">\n<thead><tr><th>Domain</th>"
		"<th>Verdict</th><th>Codes</th><th>MX</th><th>Reasons</th></tr></thead>\n<tbody>\n",
		r->n_domains, r->n_domains);
	for (size_t i = 0; i < r->n_domains; i++) {
		const struct dg_html_domain *d = &r->domains[i];

		fputs("<tr data-verdict=\"", out);
		html_put(out, d->verdict);
		fputs("\"><td>", out);
		html_put(out, d->domain);
		fputs("</td><td class=\"v-", out);
		html_put(out, d->verdict);
		fputs("\">", out);
		html_put(out, d->verdict);
		fputs("</td><td>", out);
		html_put(out, d->codes);
		fputs("</td><td>", out);
		html_put(out, d->mx_set);
		fputs("</td><td class=\"reasons\">", out);
		html_put(out, d->reasons);
		fputs("</td></tr>\n", out);
	}
	fputs("</tbody>\n</table>\n</section>\n", out);
}

/* Filter and sort the domain table; reads the DOM only (no data in the script). */
static void html_script(FILE *out)
{
	fputs("<script>\n(function () {\n"
	      "var t = document.getElementById('domain-table');\n"
	      "if (!t) return;\n"
	      "var tb = t.tBodies[0], f = document.getElementById('filter');\n"
	      "var vs = document.getElementById('verdict-filter');\n"
	      "var shown = document.getElementById('shown');\n"
	      "var ths = t.tHead.rows[0].cells;\n"
	      "function apply() {\n"
	      "  var q = f.value.toLowerCase(), want = vs.value, c = 0;\n"
	      "  for (var i = 0; i < tb.rows.length; i++) {\n"
	      "    var r = tb.rows[i];\n"
	      "    var ok = (!want || r.getAttribute('data-verdict') === want) &&\n"
	      "             (!q || r.textContent.toLowerCase().indexOf(q) >= 0);\n"
	      "    r.style.display = ok ? '' : 'none';\n"
	      "    if (ok) c++;\n"
	      "  }\n"
	      "  shown.textContent = String(c);\n"
	      "}\n"
	      "function sortBy(col) {\n"
	      "  var asc = ths[col].getAttribute('aria-sort') !== 'ascending';\n"
	      "  for (var k = 0; k < ths.length; k++) ths[k].removeAttribute('aria-sort');\n"
	      "  ths[col].setAttribute('aria-sort', asc ? 'ascending' : 'descending');\n"
	      "  var rows = Array.prototype.slice.call(tb.rows);\n"
	      "  rows.sort(function (a, b) {\n"
	      "    var x = a.cells[col].textContent, y = b.cells[col].textContent;\n"
	      "    return asc ? x.localeCompare(y) : y.localeCompare(x);\n"
	      "  });\n"
	      "  for (var m = 0; m < rows.length; m++) tb.appendChild(rows[m]);\n"
	      "}\n"
	      "for (var j = 0; j < ths.length; j++)\n"
	      "  ths[j].addEventListener('click', sortBy.bind(null, j));\n"
	      "f.addEventListener('input', apply);\n"
	      "vs.addEventListener('change', apply);\n"
	      "apply();\n"
	      "document.body.setAttribute('data-ready', 'yes');\n"
	      "})();\n</script>\n", out);
}
