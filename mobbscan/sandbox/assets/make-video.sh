#!/bin/sh
# Regenerates liveness.webm, the synthetic "video selfie" the sandbox serves as
# the video_liveness recording (embedded with //go:embed in video.go).
#
# Usage (from any directory, needs Debian's ffmpeg with libvpx):
#   sh mobbscan/sandbox/assets/make-video.sh
#
# The clip is 4 s, 320x240, 25 fps, VP8 in WebM, a keyframe every 12 frames
# (~0.5 s) so browsers can seek anywhere quickly, with Cues written by the
# muxer. It shows no real person: a drawn head turns left and right and blinks
# (what a liveness check asks for) over a gradient, with a progress bar.
# The output is small (well under 300 KiB) and committed to the repository.
set -eu
cd "$(dirname "$0")"

# Head centre moves sideways (a head turn); eyes close briefly every 1.5 s.
CX='(160+34*sin(2*PI*T/2))'
CY='(118+4*sin(2*PI*T))'
HEAD="lte(pow((X-$CX)/52,2)+pow((Y-$CY)/68,2),1)"
HAIR="lte(pow((X-$CX)/56,2)+pow((Y-$CY+22)/58,2),1)*lt(Y,$CY-28)"
BLINK="lt(mod(T,1.5),0.12)"
EYEL="lte(pow((X-$CX+19)/7,2)+pow((Y-$CY+8)/(5-4*$BLINK),2),1)"
EYER="lte(pow((X-$CX-19)/7,2)+pow((Y-$CY+8)/(5-4*$BLINK),2),1)"
MOUTH="lte(pow((X-$CX)/16,2)+pow((Y-$CY-30)/3,2),1)"
BODY="lte(pow((X-160)/95,2)+pow((Y-270)/80,2),1)"

# Pick a colour per region, from front-most to back-most.
pick() { # $1=hair $2=eyes $3=mouth $4=skin $5=body $6=background
	echo "if($HAIR,$1,if($EYEL+$EYER,$2,if($MOUTH,$3,if($HEAD,$4,if($BODY,$5,$6)))))"
}
R=$(pick 60 40 170 224 40 '70+Y/5')
G=$(pick 40 35 80 180 80 '90+Y/6')
B=$(pick 30 30 90 150 140 '110+X/8')

ffmpeg -hide_banner -loglevel error -y \
	-f lavfi -i "color=c=black:s=320x240:r=25:d=4" \
	-vf "format=gbrp,geq=r='$R':g='$G':b='$B',drawbox=x=0:y=232:w='iw*t/4':h=8:color=0xe04040@1:t=fill,drawbox=x=296:y=8:w=14:h=14:color=red@0.9:t=fill,format=yuv420p" \
	-c:v libvpx -b:v 300k -crf 30 -g 12 -keyint_min 12 -auto-alt-ref 0 -deadline good -cpu-used 4 \
	-an -f webm liveness.webm

ls -l liveness.webm
