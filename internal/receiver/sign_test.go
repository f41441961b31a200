package receiver

import (
	"strings"
	"testing"
	"time"
)

func TestSignMatchesTheOfficialTestVector(t *testing.T) {
	t.Parallel()
	const want = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
	if got := Sign("xxxxyyyy", "1669872112"); got != want {
		t.Fatalf("Sign(xxxxyyyy, 1669872112) = %s, want %s", got, want)
	}
}

func TestVerifySign(t *testing.T) {
	t.Parallel()
	const token, requestTime = "xxxxyyyy", "1669872112"
	sent := time.Unix(1669872112, 0)
	sign := Sign(token, requestTime)
	for _, tc := range []struct {
		name              string
		sign, requestTime string
		now               time.Time
		wantErr           string
	}{
		{name: "the official vector at its own time passes", sign: sign, requestTime: requestTime, now: sent},
		{name: "upper-case hex passes", sign: strings.ToUpper(sign), requestTime: requestTime, now: sent},
		{name: "exactly the allowed skew in the past passes", sign: sign, requestTime: requestTime, now: sent.Add(60 * time.Second)},
		{name: "exactly the allowed skew in the future passes", sign: sign, requestTime: requestTime, now: sent.Add(-60 * time.Second)},
		{name: "one second over the skew fails", sign: sign, requestTime: requestTime, now: sent.Add(61 * time.Second), wantErr: "1m1s away"},
		{name: "a RequestTime far in the future fails", sign: sign, requestTime: requestTime, now: sent.Add(-time.Hour), wantErr: "away"},
		{name: "the typo'd token of one English page fails", sign: Sign("xxxyyy", requestTime), requestTime: requestTime, now: sent, wantErr: "does not match"},
		{name: "a sign for another time fails", sign: sign, requestTime: "1669872113", now: sent, wantErr: "does not match"},
		{name: "a truncated sign fails", sign: sign[:62], requestTime: requestTime, now: sent, wantErr: "does not match"},
		{name: "a sign that is not hex fails", sign: "g" + sign[1:], requestTime: requestTime, now: sent, wantErr: "does not match"},
		{name: "a missing sign fails", requestTime: requestTime, now: sent, wantErr: "required"},
		{name: "a missing RequestTime fails", sign: sign, now: sent, wantErr: "required"},
		{name: "a RequestTime in milliseconds fails", sign: Sign(token, "1669872112000"), requestTime: "1669872112000", now: sent, wantErr: "away"},
		{name: "a RequestTime that is not a number fails even when signed", sign: Sign(token, "soon"), requestTime: "soon", now: sent, wantErr: "not Unix seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySign([]string{"another-token", token}, tc.sign, tc.requestTime, tc.now, 60*time.Second)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("VerifySign = %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("VerifySign = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}
