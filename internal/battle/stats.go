package battle

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// RoomBattle is what one BattleResult says about one of its rooms.
type RoomBattle struct {
	BattleResult string
	BattleID     string
	EndTime      int64
	// EndedAt is spec.endedAt in Unix seconds (the API's resolution), NoEndedAt when the
	// battle has none: a number, not a pointer to a time each battle would keep alive.
	EndedAt      int64
	EndReason    livev1alpha1.EndReason
	Result       livev1alpha1.RoomResult
	Score        int64
	OwnerAccount string
}

// NoEndedAt is RoomBattle.EndedAt of a battle without spec.endedAt.
const NoEndedAt = math.MinInt64

// UnixOf is t in Unix seconds, NoEndedAt for nil.
func UnixOf(t *metav1.Time) int64 {
	if t == nil {
		return NoEndedAt
	}
	return t.Unix()
}

// TimeOf is the time of Unix seconds sec in UTC, nil for NoEndedAt.
func TimeOf(sec int64) *metav1.Time {
	if sec == NoEndedAt {
		return nil
	}
	t := metav1.NewTime(time.Unix(sec, 0).UTC())
	return &t
}

// RoomBattleOf returns what br says about room roomID, and false when the room was not in it.
func RoomBattleOf(br *livev1alpha1.BattleResult, roomID livev1alpha1.RoomID) (RoomBattle, bool) {
	for _, r := range br.Spec.Rooms {
		if r.RoomID == roomID {
			return RoomBattle{
				BattleResult: br.Name,
				BattleID:     br.Spec.BattleID,
				EndTime:      br.Spec.EndTime,
				EndedAt:      UnixOf(br.Spec.EndedAt),
				EndReason:    br.Spec.EndReason,
				Result:       r.Result,
				Score:        r.Score,
				OwnerAccount: r.OwnerAccount,
			}, true
		}
	}
	return RoomBattle{}, false
}

// before orders battles by end time, ties broken by BattleId.
func before(a, b RoomBattle) bool {
	if a.EndTime != b.EndTime {
		return a.EndTime < b.EndTime
	}
	return a.BattleID < b.BattleID
}

// Fold adds battles to the statistics in from, in order of end time (ties broken by
// BattleId), and returns the result; from is not changed. Counting a room from scratch is
// Fold from the zero status. Because the statistics are a left fold, a later retention can
// fold the oldest battles into a stored status once and then delete them: folding the
// remaining battles from that status gives the same numbers as folding all of them.
// ObservedGeneration and Conditions are left as they are in from.
func Fold(from livev1alpha1.RoomStatsStatus, battles []RoomBattle) livev1alpha1.RoomStatsStatus {
	sorted := make([]RoomBattle, len(battles))
	copy(sorted, battles)
	sort.Slice(sorted, func(i, j int) bool { return before(sorted[i], sorted[j]) })
	return foldSorted(from, sorted)
}

// foldSorted is Fold of battles already in end-time order.
func foldSorted(from livev1alpha1.RoomStatsStatus, sorted []RoomBattle) livev1alpha1.RoomStatsStatus {
	s := from
	if from.HighestScore != nil {
		h := *from.HighestScore
		s.HighestScore = &h
	}
	s.LastBattle = from.LastBattle
	for _, b := range sorted {
		switch b.EndReason {
		case livev1alpha1.EndReasonTimeUp:
			s.Battles++
			s.Completed++
			switch b.Result {
			case livev1alpha1.RoomResultWin:
				s.Wins++
				s.CurrentWinStreak++
				s.LongestWinStreak = max(s.LongestWinStreak, s.CurrentWinStreak)
			case livev1alpha1.RoomResultDraw:
				s.Draws++
				s.CurrentWinStreak = 0
			default:
				s.Losses++
				s.CurrentWinStreak = 0
			}
		case livev1alpha1.EndReasonAllHostsExited:
			s.Battles++
			s.Abandoned++
		case livev1alpha1.EndReasonNeverStarted:
			s.NeverStarted++
		default:
			s.Unknown++
		}
		if b.EndReason == livev1alpha1.EndReasonTimeUp || b.EndReason == livev1alpha1.EndReasonAllHostsExited {
			s.TotalScore = addSaturating(s.TotalScore, b.Score)
			if s.HighestScore == nil || b.Score > *s.HighestScore {
				if s.HighestScore == nil {
					s.HighestScore = new(int64) // from's was copied above
				}
				*s.HighestScore = b.Score
			}
		}
	}
	if n := len(sorted); n > 0 {
		b := sorted[n-1]
		s.LastBattle = LastBattleOf(b)
		s.OwnerAccount = b.OwnerAccount
	}
	s.WinRate = WinRate(s.Wins, s.Completed)
	return s
}

// WinRate is wins over completed battles as a percentage with at most one decimal
// ("62.5%", "100%"); "" when no battle was completed.
func WinRate(wins, completed int64) string {
	if completed == 0 {
		return ""
	}
	// Rounded half up in integers, so 2 of 3 is 66.7% on every platform.
	tenths := (wins*1000 + completed/2) / completed
	text := strconv.FormatInt(tenths/10, 10)
	if tenths%10 != 0 {
		text += "." + strconv.FormatInt(tenths%10, 10)
	}
	return text + "%"
}

var readableRoom = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// RoomStatsName is the RoomStats name of a room of an app: a pure function of (SDKAppID,
// RoomId) that no two different pairs share.
//   - "<app>-<room>" when the room ID is already a lowercase DNS label and the name fits in
//     63 characters: a readable name holds no '.';
//   - otherwise "<app>-<room, lowercased, other characters as '-', cut>.<hash>", where the hash
//     is 64 bits of SHA-256 of the exact pair: a hashed name always holds one '.', so it never
//     equals a readable one, and rooms that differ only in case or in illegal characters
//     get different hashes.
//
// The app is digits only, so the first '-' always ends it.
func RoomStatsName(sdkAppID string, roomID livev1alpha1.RoomID) string {
	room := string(roomID)
	if readableRoom.MatchString(room) && len(sdkAppID)+1+len(room) <= 63 {
		return sdkAppID + "-" + room
	}
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(room) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 24 {
			break
		}
	}
	readable := strings.Trim(b.String(), "-")
	if readable == "" {
		readable = "room"
	}
	sum := sha256.Sum256([]byte(sdkAppID + "\x00" + room))
	return sdkAppID + "-" + readable + "." + hex.EncodeToString(sum[:8])
}

// LastBattleOf is the room's battle b as the statistics show their last battle.
func LastBattleOf(b RoomBattle) livev1alpha1.LastBattle {
	return livev1alpha1.LastBattle{
		BattleResult: b.BattleResult,
		BattleID:     b.BattleID,
		EndedAt:      TimeOf(b.EndedAt),
		EndReason:    b.EndReason,
		Result:       b.Result,
		Score:        b.Score,
	}
}

// addSaturating is a+b, held at the int64 bounds instead of wrapping: two battles scored
// 9223372036854775807 total 9223372036854775807, not -2.
func addSaturating(a, b int64) int64 {
	sum := a + b
	switch {
	case a > 0 && b > 0 && sum < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && sum >= 0:
		return math.MinInt64
	}
	return sum
}
