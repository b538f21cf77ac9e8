/* vfdecode: reference decoder for the tests and benchmarks of package
   vorbis. Decodes an Ogg Vorbis file with libvorbisfile's ov_read_float
   and writes interleaved little-endian float32 samples to OUT (or
   nothing with "-"), then prints "channels rate frames" on stdout. */
#include <stdio.h>
#include <vorbis/vorbisfile.h>

int main(int argc, char **argv) {
  OggVorbis_File vf;
  FILE *out = NULL;
  long long frames = 0;
  int bs = 0, channels = 0;
  long rate = 0;
  if (argc != 3) {
    fprintf(stderr, "usage: vfdecode IN.ogg OUT.f32|-\n");
    return 2;
  }
  if (ov_fopen(argv[1], &vf) != 0) {
    fprintf(stderr, "vfdecode: cannot open %s\n", argv[1]);
    return 1;
  }
  if (argv[2][0] != '-') {
    out = fopen(argv[2], "wb");
    if (!out) return 1;
  }
  channels = ov_info(&vf, -1)->channels;
  rate = ov_info(&vf, -1)->rate;
  for (;;) {
    float **pcm;
    long n = ov_read_float(&vf, &pcm, 4096, &bs);
    if (n == 0) break;
    if (n == OV_HOLE) continue;
    if (n < 0) {
      fprintf(stderr, "vfdecode: error %ld\n", n);
      return 1;
    }
    if (out) {
      int ch = ov_info(&vf, bs)->channels;
      for (long i = 0; i < n; i++)
        for (int c = 0; c < ch; c++) fwrite(&pcm[c][i], 4, 1, out);
    }
    frames += n;
  }
  if (out) fclose(out);
  printf("%d %ld %lld\n", channels, rate, frames);
  ov_clear(&vf);
  return 0;
}
