/*  examples/image_pipeline.c: "callback hell", untangled with actors.

    The example that named callback hell (callbackhell.com) resizes every
    image of a directory to several widths, in Node.js:

        fs.readdir(source, function (err, files) {
          files.forEach(function (filename, fileIndex) {
            gm(source + filename).size(function (err, values) {
              widths.forEach(function (width, widthIndex) {
                height = Math.round(width / aspect)
                this.resize(width, height).write(dest + 'w' + width + '_' + filename,
                  function (err) { if (err) console.log('Error writing file: ' + err) })
              }.bind(this))
            })
          })
        })

    Here each step is an actor, and the steps are messages, not nested
    callbacks:

      coordinator  lists the directory; for each image asks the sizer,
                   then, with the size, asks the pool for each width;
                   counts what comes back (and the errors, in one place);
      sizer        reads an image's header: its width and height;
      pool         (actors/pool.h) thread-actor workers, one per core,
                   that read an image, resize it (averaging the source
                   pixels under each output pixel) and write it.

    The images are made here: 24 greyscale PGM pictures of 1200 x 900 in
    a temporary directory, each resized to 3 widths. Then every output
    file is checked (its size, and its pixels against the same resize
    done here in one thread), and the directory is removed.

    Run: make examples && build/release/examples/image_pipeline
*/
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <troupe/pool.h>
#include <troupe/troupe.h>

#define IMAGES 24
#define SRC_W 1200
#define SRC_H 900
static const int s_widths[] = {640, 320, 96};
#define NWIDTHS 3

/* ------------------------------------------------------------------ */
/*  PGM (P5) images                                                    */

typedef struct {
    int w, h;
    uint8_t *px;
} image_t;

static bool
s_pgm_read (const char *path, image_t *img, bool header_only)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return false;
    int max = 0;
    bool ok = fscanf (f, "P5 %d %d %d", &img->w, &img->h, &max) == 3
              && max == 255 && img->w > 0 && img->h > 0 && fgetc (f) != EOF;
    img->px = NULL;
    if (ok && !header_only) {
        size_t n = (size_t) img->w * (size_t) img->h;
        img->px = malloc (n);
        ok = img->px && fread (img->px, 1, n, f) == n;
    }
    fclose (f);
    return ok;
}

static bool
s_pgm_write (const char *path, const image_t *img)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return false;
    size_t n = (size_t) img->w * (size_t) img->h;
    bool ok = fprintf (f, "P5\n%d %d\n255\n", img->w, img->h) > 0
              && fwrite (img->px, 1, n, f) == n;
    return fclose (f) == 0 && ok;
}

/*  Box resize: each output pixel is the mean of the source pixels it
    covers. */
static image_t
s_resize (const image_t *src, int w)
{
    image_t out = {w, (int) ((int64_t) src->h * w / src->w), NULL};
    if (out.h < 1)
        out.h = 1;
    out.px = malloc ((size_t) out.w * (size_t) out.h);
    for (int y = 0; y < out.h; y++) {
        int y0 = y * src->h / out.h, y1 = (y + 1) * src->h / out.h;
        for (int x = 0; x < out.w; x++) {
            int x0 = x * src->w / out.w, x1 = (x + 1) * src->w / out.w;
            uint32_t sum = 0, n = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++, n++)
                    sum += src->px[(size_t) yy * (size_t) src->w + (size_t) xx];
            out.px[(size_t) y * (size_t) out.w + (size_t) x]
                = (uint8_t) (n ? sum / n : 0);
        }
    }
    return out;
}

static uint64_t
s_checksum (const image_t *img)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < (size_t) img->w * (size_t) img->h; i++)
        h = (h ^ img->px[i]) * 1099511628211ULL;
    return h;
}

/* ------------------------------------------------------------------ */
/*  The actors                                                         */

/*  sizer: "size" [s path] -> "size" [i w, i h], or "error" [s why] */
static void
sizer_receive (tp_actor *self, tp_msg *msg)
{
    const char *p;
    size_t n;
    char path[1024];
    image_t img;
    if (!tp_msg_is (msg, "size") || tp_msg_unpack (msg, "s", &p, &n) != 0)
        return;
    snprintf (path, sizeof path, "%.*s", (int) n, p);
    if (s_pgm_read (path, &img, true))
        tp_reply (self, msg, tp_tag ("size"), "ii", img.w, img.h);
    else
        tp_reply (self, msg, tp_tag ("error"), "s", "not a PGM image");
}
static const tp_behavior sizer_b = {"sizer", NULL, sizer_receive, NULL};

/*  resizer (a pool worker): "resize" [s in, s out, i width]
    -> "done" [i w, i h, U checksum], or "error" [s why] */
static void
resizer_receive (tp_actor *self, tp_msg *msg)
{
    const char *a, *b;
    size_t an, bn;
    int w;
    if (!tp_msg_is (msg, "resize")
        || tp_msg_unpack (msg, "ssi", &a, &an, &b, &bn, &w) != 0)
        return;
    char in[1024], out[1024];
    snprintf (in, sizeof in, "%.*s", (int) an, a);
    snprintf (out, sizeof out, "%.*s", (int) bn, b);
    image_t src;
    if (!s_pgm_read (in, &src, false)) {
        tp_reply (self, msg, tp_tag ("error"), "s", "cannot read");
        return;
    }
    image_t dst = s_resize (&src, w);
    if (s_pgm_write (out, &dst))
        tp_reply (self, msg, tp_tag ("done"), "iiU", dst.w, dst.h,
                  s_checksum (&dst));
    else
        tp_reply (self, msg, tp_tag ("error"), "s", "cannot write");
    free (src.px);
    free (dst.px);
}
static const tp_behavior resizer_b = {"resizer", NULL, resizer_receive, NULL};

typedef struct {
    char src[256], dst[256];
    tp_ref sizer, pool;
    _Atomic int done, errors, expected;
    uint64_t sum; /* of the outputs' checksums (coordinator's thread) */
} job_t;

typedef struct {
    job_t *j;
    char name[256];
} file_t;

static void
s_resized (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) self;
    job_t *j = arg;
    int w, h;
    uint64_t sum;
    if (status == 0 && tp_msg_is (reply, "done")
        && tp_msg_unpack (reply, "iiU", &w, &h, &sum) == 0)
        j->sum += sum;
    else
        atomic_fetch_add (&j->errors, 1); /* (the one place errors land) */
    atomic_fetch_add (&j->done, 1);
}

static void
s_sized (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    file_t *f = arg;
    job_t *j = f->j;
    int w, h;
    if (status != 0 || !tp_msg_is (reply, "size")
        || tp_msg_unpack (reply, "ii", &w, &h) != 0) {
        atomic_fetch_add (&j->errors, NWIDTHS);
        atomic_fetch_add (&j->done, NWIDTHS);
        free (f);
        return;
    }
    char in[1024], out[1024];
    snprintf (in, sizeof in, "%s/%s", j->src, f->name);
    for (int k = 0; k < NWIDTHS; k++) {
        snprintf (out, sizeof out, "%s/w%d_%s", j->dst, s_widths[k], f->name);
        if (tp_ask (self, j->pool, tp_tag ("resize"), 60000, s_resized, j,
                    "ssi", in, out, s_widths[k])
            != 0) {
            atomic_fetch_add (&j->errors, 1);
            atomic_fetch_add (&j->done, 1);
        }
    }
    free (f);
}

static void
coord_receive (tp_actor *self, tp_msg *msg)
{
    job_t *j = tp_arg (self);
    if (!tp_msg_is (msg, "go"))
        return;
    DIR *d = opendir (j->src);
    for (struct dirent *e; d && (e = readdir (d));) {
        if (e->d_name[0] == '.')
            continue;
        file_t *f = calloc (1, sizeof *f);
        f->j = j;
        snprintf (f->name, sizeof f->name, "%s", e->d_name);
        char path[1024];
        snprintf (path, sizeof path, "%s/%s", j->src, e->d_name);
        atomic_fetch_add (&j->expected, NWIDTHS);
        if (tp_ask (self, j->sizer, tp_tag ("size"), 10000, s_sized, f, "s",
                    path)
            != 0) {
            atomic_fetch_add (&j->errors, NWIDTHS);
            atomic_fetch_add (&j->done, NWIDTHS);
            free (f);
        }
    }
    if (d)
        closedir (d);
}
static const tp_behavior coord_b = {"coordinator", NULL, coord_receive, NULL};

/* ------------------------------------------------------------------ */

static image_t
s_picture (int k)
{
    image_t img = {SRC_W, SRC_H, malloc ((size_t) SRC_W * SRC_H)};
    for (int y = 0; y < SRC_H; y++)
        for (int x = 0; x < SRC_W; x++) /* rings and stripes, per image */
            img.px[(size_t) y * SRC_W + (size_t) x]
                = (uint8_t) (((x - 600) * (x - 600) + (y - 450) * (y - 450))
                                 / (64 + 16 * k)
                             + x / (4 + k));
    return img;
}

static uint64_t
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

int
main (void)
{
    static job_t j;
    char base[] = "/tmp/troupe-images-XXXXXX";
    if (!mkdtemp (base))
        return 1;
    snprintf (j.src, sizeof j.src, "%s/in", base);
    snprintf (j.dst, sizeof j.dst, "%s/out", base);
    mkdir (j.src, 0700);
    mkdir (j.dst, 0700);
    printf ("image pipeline: %d images of %dx%d, each resized to %d, %d and "
            "%d pixels wide\n",
            IMAGES, SRC_W, SRC_H, s_widths[0], s_widths[1], s_widths[2]);
    for (int k = 0; k < IMAGES; k++) {
        char path[512];
        snprintf (path, sizeof path, "%s/img%02d.pgm", j.src, k);
        image_t img = s_picture (k);
        s_pgm_write (path, &img);
        free (img.px);
    }

    tp_system *sys = tp_system_new (NULL);
    tp_pool_opts po = {.behavior = &resizer_b, .worker = {.kind = TP_THREAD},
                       .size = tp_system_workers (sys)};
    tp_spawn (sys, &sizer_b, NULL, NULL, &j.sizer);
    tp_pool_start (sys, &po, NULL, &j.pool);
    tp_ref c;
    tp_spawn (sys, &coord_b, &j, NULL, &c);
    uint64_t t0 = s_ms ();
    tp_send (sys, c, tp_tag ("go"), NULL);
    bool tty = isatty (1);
    int total = IMAGES * NWIDTHS, shown = -1;
    while (atomic_load (&j.done) < total && s_ms () - t0 < 120000) {
        int done = atomic_load (&j.done);
        if (tty || done * 4 / total != shown) {
            shown = done * 4 / total;
            char bar[41];
            for (int i = 0; i < 40; i++)
                bar[i] = i < done * 40 / total ? '#' : '.';
            bar[40] = '\0';
            printf ("%s[%s] %2d/%d files written%s", tty ? "\r" : "  ", bar,
                    done, total, tty ? "" : "\n");
            fflush (stdout);
        }
        tp_system_wait_for (sys, c, 50, NULL); /* (c lives: just a pause) */
    }
    uint64_t took = s_ms () - t0;
    printf ("%s  [########################################] %d/%d files "
            "written in %.2f s on %d workers, %d errors\n",
            tty ? "\r" : "", atomic_load (&j.done), total, took / 1000.0,
            po.size, atomic_load (&j.errors));
    tp_pool_stats st;
    if (tp_pool_stats_get (sys, j.pool, &st, 5000) == 0)
        printf ("pool: %llu jobs done, %llu failed\n",
                (unsigned long long) st.done, (unsigned long long) st.failed);
    tp_system_destroy (&sys);

    /* the check: every output file, its size and its pixels */
    int bad = atomic_load (&j.errors) + (atomic_load (&j.done) != total);
    uint64_t sum = 0;
    for (int k = 0; k < IMAGES; k++) {
        image_t src = s_picture (k);
        for (int w = 0; w < NWIDTHS; w++) {
            char path[512];
            snprintf (path, sizeof path, "%s/w%d_img%02d.pgm", j.dst,
                      s_widths[w], k);
            image_t got, want = s_resize (&src, s_widths[w]);
            if (!s_pgm_read (path, &got, false) || got.w != want.w
                || got.h != want.h
                || memcmp (got.px, want.px, (size_t) got.w * (size_t) got.h)) {
                printf ("wrong: %s\n", path);
                bad++;
            }
            sum += s_checksum (&want);
            free (got.px);
            free (want.px);
            unlink (path);
        }
        char path[512];
        snprintf (path, sizeof path, "%s/img%02d.pgm", j.src, k);
        unlink (path);
        free (src.px);
    }
    bad += sum != j.sum;
    rmdir (j.src);
    rmdir (j.dst);
    rmdir (base);
    printf ("checked %d files against a one-thread resize: %s\n", total,
            bad ? "FAILED" : "all equal");
    return bad ? 1 : 0;
}
