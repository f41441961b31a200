package battle

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	v1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// roomBattle is what the BattleResult of battle id says about the room under test.
func roomBattle(id string, end int64, reason v1.EndReason, result v1.RoomResult, score int64) RoomBattle {
	return RoomBattle{
		BattleResult: "br-" + id,
		BattleID:     id,
		EndTime:      end,
		EndedAt:      end,
		EndReason:    reason,
		Result:       result,
		Score:        score,
		OwnerAccount: "owner-" + id,
	}
}

func winAt(id string, end, score int64) RoomBattle {
	return roomBattle(id, end, v1.EndReasonTimeUp, v1.RoomResultWin, score)
}

func lossAt(id string, end, score int64) RoomBattle {
	return roomBattle(id, end, v1.EndReasonTimeUp, v1.RoomResultLoss, score)
}

func drawAt(id string, end, score int64) RoomBattle {
	return roomBattle(id, end, v1.EndReasonTimeUp, v1.RoomResultDraw, score)
}

func abandonedAt(id string, end, score int64) RoomBattle {
	return roomBattle(id, end, v1.EndReasonAllHostsExited, v1.RoomResultNoContest, score)
}

func neverStartedAt(id string, end, score int64) RoomBattle {
	return roomBattle(id, end, v1.EndReasonNeverStarted, v1.RoomResultNoContest, score)
}

func unknownAt(id string, end, score int64) RoomBattle {
	return roomBattle(id, end, v1.EndReasonUnknown, v1.RoomResultNoContest, score)
}

func TestFold(t *testing.T) {
	// Win, win, loss, win (b1 to b4), whatever order they are given in.
	winWinLossWin := v1.RoomStatsStatus{
		RoomCounts: v1.RoomCounts{
			Battles: 4, Completed: 4, Wins: 3, Losses: 1,
			TotalScore: 42, HighestScore: ptr.To[int64](20),
			CurrentWinStreak: 1, LongestWinStreak: 2,
			LastBattle: LastBattleOf(winAt("b4", 4, 7)), OwnerAccount: "owner-b4",
		},
		WinRate: "75%",
	}
	tests := []struct {
		name    string
		battles []RoomBattle
		want    v1.RoomStatsStatus
	}{
		{
			name: "No battles give zero counts, no win rate, no highest score and no last battle.",
			want: v1.RoomStatsStatus{},
		},
		{
			name:    "Win, win, loss, win leaves a current streak of 1 and a longest streak of 2.",
			battles: []RoomBattle{winAt("b1", 1, 10), winAt("b2", 2, 20), lossAt("b3", 3, 5), winAt("b4", 4, 7)},
			want:    winWinLossWin,
		},
		{
			name:    "A draw breaks a win streak and counts as a draw, not as a loss.",
			battles: []RoomBattle{winAt("b1", 1, 10), winAt("b2", 2, 20), drawAt("b3", 3, 5), winAt("b4", 4, 7)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 4, Completed: 4, Wins: 3, Draws: 1,
					TotalScore: 42, HighestScore: ptr.To[int64](20),
					CurrentWinStreak: 1, LongestWinStreak: 2,
					LastBattle: LastBattleOf(winAt("b4", 4, 7)), OwnerAccount: "owner-b4",
				},
				WinRate: "75%",
			},
		},
		{
			name:    "An abandoned battle between wins neither breaks nor extends the streak.",
			battles: []RoomBattle{winAt("b1", 1, 3), abandonedAt("b2", 2, 4), winAt("b3", 3, 5)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 3, Completed: 2, Wins: 2, Abandoned: 1,
					TotalScore: 12, HighestScore: ptr.To[int64](5),
					CurrentWinStreak: 2, LongestWinStreak: 2,
					LastBattle: LastBattleOf(winAt("b3", 3, 5)), OwnerAccount: "owner-b3",
				},
				WinRate: "100%",
			},
		},
		{
			name:    "A never-started battle between wins neither breaks nor extends the streak.",
			battles: []RoomBattle{winAt("b1", 1, 3), neverStartedAt("b2", 2, 0), winAt("b3", 3, 5)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 2, Completed: 2, Wins: 2, NeverStarted: 1,
					TotalScore: 8, HighestScore: ptr.To[int64](5),
					CurrentWinStreak: 2, LongestWinStreak: 2,
					LastBattle: LastBattleOf(winAt("b3", 3, 5)), OwnerAccount: "owner-b3",
				},
				WinRate: "100%",
			},
		},
		{
			name:    "A battle with an unknown end reason between wins neither breaks nor extends the streak.",
			battles: []RoomBattle{winAt("b1", 1, 3), unknownAt("b2", 2, 0), winAt("b3", 3, 5)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 2, Completed: 2, Wins: 2, Unknown: 1,
					TotalScore: 8, HighestScore: ptr.To[int64](5),
					CurrentWinStreak: 2, LongestWinStreak: 2,
					LastBattle: LastBattleOf(winAt("b3", 3, 5)), OwnerAccount: "owner-b3",
				},
				WinRate: "100%",
			},
		},
		{
			name:    "A win streak at the very end is the current streak and the longest one.",
			battles: []RoomBattle{winAt("b1", 1, 1), lossAt("b2", 2, 1), winAt("b3", 3, 1), winAt("b4", 4, 1), winAt("b5", 5, 1)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 5, Completed: 5, Wins: 4, Losses: 1,
					TotalScore: 5, HighestScore: ptr.To[int64](1),
					CurrentWinStreak: 3, LongestWinStreak: 3,
					LastBattle: LastBattleOf(winAt("b5", 5, 1)), OwnerAccount: "owner-b5",
				},
				WinRate: "80%",
			},
		},
		{
			name:    "A loss at the very end leaves no current streak but keeps the longest one.",
			battles: []RoomBattle{winAt("b1", 1, 1), winAt("b2", 2, 1), winAt("b3", 3, 1), lossAt("b4", 4, 1)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 4, Completed: 4, Wins: 3, Losses: 1,
					TotalScore: 4, HighestScore: ptr.To[int64](1),
					CurrentWinStreak: 0, LongestWinStreak: 3,
					LastBattle: LastBattleOf(lossAt("b4", 4, 1)), OwnerAccount: "owner-b4",
				},
				WinRate: "75%",
			},
		},
		{
			name:    "A never-started battle is not played and its score counts in neither the total nor the highest score.",
			battles: []RoomBattle{winAt("b1", 1, 5), neverStartedAt("b2", 2, 100)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 1, Completed: 1, Wins: 1, NeverStarted: 1,
					TotalScore: 5, HighestScore: ptr.To[int64](5),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(neverStartedAt("b2", 2, 100)), OwnerAccount: "owner-b2",
				},
				WinRate: "100%",
			},
		},
		{
			name:    "A battle with an unknown end reason counts only as unknown.",
			battles: []RoomBattle{unknownAt("b1", 1, 100)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Unknown:    1,
					LastBattle: LastBattleOf(unknownAt("b1", 1, 100)), OwnerAccount: "owner-b1",
				},
			},
		},
		{
			name:    "Never-started and unknown battles alone leave the highest score absent and the win rate empty.",
			battles: []RoomBattle{neverStartedAt("b1", 1, 7), unknownAt("b2", 2, 9)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					NeverStarted: 1, Unknown: 1,
					LastBattle: LastBattleOf(unknownAt("b2", 2, 9)), OwnerAccount: "owner-b2",
				},
			},
		},
		{
			name:    "Abandoned battles are played but not completed, and their scores count in the total and the highest score.",
			battles: []RoomBattle{abandonedAt("b1", 1, 50), winAt("b2", 2, 10), abandonedAt("b3", 3, -4)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 3, Completed: 1, Wins: 1, Abandoned: 2,
					TotalScore: 56, HighestScore: ptr.To[int64](50),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(abandonedAt("b3", 3, -4)), OwnerAccount: "owner-b3",
				},
				WinRate: "100%",
			},
		},
		{
			name:    "Abandoned battles alone give a highest score but no win rate.",
			battles: []RoomBattle{abandonedAt("b1", 1, 3), abandonedAt("b2", 2, 8)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 2, Abandoned: 2,
					TotalScore: 11, HighestScore: ptr.To[int64](8),
					LastBattle: LastBattleOf(abandonedAt("b2", 2, 8)), OwnerAccount: "owner-b2",
				},
			},
		},
		{
			name:    "When every score is negative the highest score is the largest of them.",
			battles: []RoomBattle{lossAt("b1", 1, -5), winAt("b2", 2, -3), abandonedAt("b3", 3, -10)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 3, Completed: 2, Wins: 1, Losses: 1, Abandoned: 1,
					TotalScore: -18, HighestScore: ptr.To[int64](-3),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(abandonedAt("b3", 3, -10)), OwnerAccount: "owner-b3",
				},
				WinRate: "50%",
			},
		},
		{
			name:    "A highest score of zero is shown as zero, not as absent.",
			battles: []RoomBattle{lossAt("b1", 1, -2), abandonedAt("b2", 2, 0)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 2, Completed: 1, Losses: 1, Abandoned: 1,
					TotalScore: -2, HighestScore: ptr.To[int64](0),
					LastBattle: LastBattleOf(abandonedAt("b2", 2, 0)), OwnerAccount: "owner-b2",
				},
				WinRate: "0%",
			},
		},
		{
			name:    "Battles given out of order are counted in order of end time.",
			battles: []RoomBattle{winAt("b4", 4, 7), lossAt("b3", 3, 5), winAt("b2", 2, 20), winAt("b1", 1, 10)},
			want:    winWinLossWin,
		},
		{
			name:    "Battles that end in the same second are counted in order of BattleId.",
			battles: []RoomBattle{winAt("b3", 100, 1), winAt("b1", 100, 1), lossAt("b2", 100, 1)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 3, Completed: 3, Wins: 2, Losses: 1,
					TotalScore: 3, HighestScore: ptr.To[int64](1),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(winAt("b3", 100, 1)), OwnerAccount: "owner-b3",
				},
				WinRate: "66.7%",
			},
		},
		{
			name:    "End time decides the order before BattleId does.",
			battles: []RoomBattle{winAt("a", 200, 1), lossAt("z", 100, 1)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 2, Completed: 2, Wins: 1, Losses: 1,
					TotalScore: 2, HighestScore: ptr.To[int64](1),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(winAt("a", 200, 1)), OwnerAccount: "owner-a",
				},
				WinRate: "50%",
			},
		},
		{
			name:    "The last battle and its owner come from the latest battle by end time, even one that never started.",
			battles: []RoomBattle{neverStartedAt("b3", 300, 0), winAt("b1", 100, 4), abandonedAt("b2", 200, 6)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 2, Completed: 1, Wins: 1, Abandoned: 1, NeverStarted: 1,
					TotalScore: 10, HighestScore: ptr.To[int64](6),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(neverStartedAt("b3", 300, 0)), OwnerAccount: "owner-b3",
				},
				WinRate: "100%",
			},
		},
		{
			name:    "Among battles ending in the same second the last battle is the one with the greatest BattleId, of any kind.",
			battles: []RoomBattle{unknownAt("b2", 100, 0), winAt("b1", 100, 4)},
			want: v1.RoomStatsStatus{
				RoomCounts: v1.RoomCounts{
					Battles: 1, Completed: 1, Wins: 1, Unknown: 1,
					TotalScore: 4, HighestScore: ptr.To[int64](4),
					CurrentWinStreak: 1, LongestWinStreak: 1,
					LastBattle: LastBattleOf(unknownAt("b2", 100, 0)), OwnerAccount: "owner-b2",
				},
				WinRate: "100%",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fold(v1.RoomStatsStatus{}, tt.battles)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fold from zero (-want +got):\n%s", diff)
			}
		})
	}
}

// storedStatus is a RoomStats status as the controller stored it after b1 and b2, both wins.
func storedStatus() v1.RoomStatsStatus {
	return v1.RoomStatsStatus{
		RoomCounts: v1.RoomCounts{
			Battles: 2, Completed: 2, Wins: 2,
			TotalScore: 30, HighestScore: ptr.To[int64](20),
			CurrentWinStreak: 2, LongestWinStreak: 2,
			LastBattle: LastBattleOf(winAt("b2", 2, 20)), OwnerAccount: "owner-b2",
		},
		WinRate:            "100%",
		ObservedGeneration: 3,
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionTrue, Reason: "Counted",
			LastTransitionTime: metav1.Unix(1700000000, 0).Rfc3339Copy(),
		}},
	}
}

func TestFoldFromStoredStatus(t *testing.T) {
	tests := []struct {
		name    string
		battles []RoomBattle
		want    func() v1.RoomStatsStatus
	}{
		{
			name:    "Folding onto a stored status continues its counts and streak and keeps observedGeneration and conditions.",
			battles: []RoomBattle{winAt("b3", 3, 25)},
			want: func() v1.RoomStatsStatus {
				s := storedStatus()
				s.Battles, s.Completed, s.Wins = 3, 3, 3
				s.TotalScore, s.HighestScore = 55, ptr.To[int64](25)
				s.CurrentWinStreak, s.LongestWinStreak = 3, 3
				s.LastBattle, s.OwnerAccount = LastBattleOf(winAt("b3", 3, 25)), "owner-b3"
				return s
			},
		},
		{
			name:    "A loss folded onto a stored streak ends the current streak but keeps the longest.",
			battles: []RoomBattle{lossAt("b3", 3, 1)},
			want: func() v1.RoomStatsStatus {
				s := storedStatus()
				s.Battles, s.Completed, s.Losses = 3, 3, 1
				s.TotalScore, s.WinRate = 31, "66.7%"
				s.CurrentWinStreak = 0
				s.LastBattle, s.OwnerAccount = LastBattleOf(lossAt("b3", 3, 1)), "owner-b3"
				return s
			},
		},
		{
			name: "Folding no battles onto a stored status changes nothing.",
			want: storedStatus,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Fold(storedStatus(), tt.battles)
			if diff := cmp.Diff(tt.want(), got); diff != "" {
				t.Errorf("Fold from the stored status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFoldDoesNotChangeItsArguments(t *testing.T) {
	tests := []struct {
		name    string
		battles []RoomBattle
	}{
		{name: "Battles that raise the highest score and replace the last battle leave from as it was.", battles: []RoomBattle{winAt("b4", 4, 90), abandonedAt("b3", 3, 50)}},
		{name: "A lower score that keeps the highest score leaves from as it was.", battles: []RoomBattle{abandonedAt("b3", 3, 1)}},
		{name: "A never-started battle that only replaces the last battle leaves from as it was.", battles: []RoomBattle{neverStartedAt("b3", 3, 99)}},
		{name: "No battles leave from as it was.", battles: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := storedStatus()
			wantFrom := from.DeepCopy()
			wantBattles := slices.Clone(tt.battles)

			got := Fold(from, tt.battles)
			if diff := cmp.Diff(*wantFrom, from); diff != "" {
				t.Errorf("Fold changed from (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(wantBattles, tt.battles); diff != "" {
				t.Errorf("Fold reordered or changed its battles (-before +after):\n%s", diff)
			}

			// A caller that edits the result must not edit the status it folded from.
			if got.HighestScore != nil {
				*got.HighestScore = 1 << 40
			}
			got.LastBattle.BattleID = "edited"
			got.LastBattle.Score = 1 << 40
			if diff := cmp.Diff(*wantFrom, from); diff != "" {
				t.Errorf("editing Fold's result changed from (-before +after):\n%s", diff)
			}
		})
	}
}

// randomBattles returns n battles of the room with distinct BattleIds, end times that often
// tie, every end reason and scores of both signs.
func randomBattles(r *rand.Rand, n int) []RoomBattle {
	reasons := []v1.EndReason{v1.EndReasonTimeUp, v1.EndReasonAllHostsExited, v1.EndReasonNeverStarted, v1.EndReasonUnknown}
	results := []v1.RoomResult{v1.RoomResultWin, v1.RoomResultLoss, v1.RoomResultDraw}
	ids := r.Perm(n)
	battles := make([]RoomBattle, n)
	for i := range battles {
		reason := reasons[r.IntN(len(reasons))]
		result := v1.RoomResultNoContest
		if reason == v1.EndReasonTimeUp {
			result = results[r.IntN(len(results))]
		}
		b := roomBattle(fmt.Sprintf("b%03d", ids[i]), r.Int64N(8), reason, result, r.Int64N(201)-100)
		b.OwnerAccount = fmt.Sprintf("owner-%d", r.IntN(3))
		battles[i] = b
	}
	return battles
}

func TestFoldRetention(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 7))
	for iter := range 500 {
		all := randomBattles(r, r.IntN(40))
		ordered := slices.Clone(all)
		slices.SortFunc(ordered, func(a, b RoomBattle) int {
			if a.EndTime != b.EndTime {
				return int(a.EndTime - b.EndTime)
			}
			return strings.Compare(a.BattleID, b.BattleID)
		})
		split := r.IntN(len(ordered) + 1)
		older := slices.Clone(ordered[:split])
		newer := slices.Clone(ordered[split:])
		r.Shuffle(len(older), func(i, j int) { older[i], older[j] = older[j], older[i] })
		r.Shuffle(len(newer), func(i, j int) { newer[i], newer[j] = newer[j], newer[i] })

		want := Fold(v1.RoomStatsStatus{}, all)
		got := Fold(Fold(v1.RoomStatsStatus{}, older), newer)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("iteration %d: folding the %d oldest of %d battles first, then the rest, differs from folding all at once (-all +split):\n%s", iter, split, len(all), diff)
		}

		// The counters a user reads must add up to the battles folded.
		if want.Battles != want.Completed+want.Abandoned {
			t.Fatalf("iteration %d: battles %d, want completed %d + abandoned %d", iter, want.Battles, want.Completed, want.Abandoned)
		}
		if want.Completed != want.Wins+want.Losses+want.Draws {
			t.Fatalf("iteration %d: completed %d, want wins %d + losses %d + draws %d", iter, want.Completed, want.Wins, want.Losses, want.Draws)
		}
		if n := want.Battles + want.NeverStarted + want.Unknown; n != int64(len(all)) {
			t.Fatalf("iteration %d: played + never started + unknown = %d, want %d battles", iter, n, len(all))
		}
		if want.CurrentWinStreak > want.LongestWinStreak || want.LongestWinStreak > want.Wins {
			t.Fatalf("iteration %d: current streak %d, longest %d, wins %d: want current <= longest <= wins", iter, want.CurrentWinStreak, want.LongestWinStreak, want.Wins)
		}
	}
}

func TestWinRate(t *testing.T) {
	tests := []struct {
		name      string
		wins      int64
		completed int64
		want      string
	}{
		{name: "No completed battle gives an empty win rate.", wins: 0, completed: 0, want: ""},
		{name: "No win in one completed battle is 0%.", wins: 0, completed: 1, want: "0%"},
		{name: "One win in one completed battle is 100% with no decimal.", wins: 1, completed: 1, want: "100%"},
		{name: "One win in two is 50% with no decimal.", wins: 1, completed: 2, want: "50%"},
		{name: "Five wins in eight is 62.5%.", wins: 5, completed: 8, want: "62.5%"},
		{name: "One win in three rounds down to 33.3%.", wins: 1, completed: 3, want: "33.3%"},
		{name: "Two wins in three rounds up to 66.7%.", wins: 2, completed: 3, want: "66.7%"},
		{name: "One win in six rounds up to 16.7%.", wins: 1, completed: 6, want: "16.7%"},
		{name: "One win in seven rounds down to 14.3%.", wins: 1, completed: 7, want: "14.3%"},
		{name: "One win in sixteen, 6.25%, rounds half up to 6.3%.", wins: 1, completed: 16, want: "6.3%"},
		{name: "A rate below 1% keeps its leading zero.", wins: 1, completed: 200, want: "0.5%"},
		{name: "Nine hundred ninety-nine wins in a thousand is 99.9%.", wins: 999, completed: 1000, want: "99.9%"},
		{name: "Large counts with an exact rate keep one decimal.", wins: 625_000_000_000, completed: 1_000_000_000_000, want: "62.5%"},
		{name: "Large counts round like small ones.", wins: 2_000_000_000_000, completed: 3_000_000_000_000, want: "66.7%"},
		{name: "Large counts that are all wins are 100%.", wins: 1_000_000_000_000_000, completed: 1_000_000_000_000_000, want: "100%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WinRate(tt.wins, tt.completed); got != tt.want {
				t.Errorf("WinRate(%d, %d) = %q, want %q", tt.wins, tt.completed, got, tt.want)
			}
		})
	}
}

func TestRoomBattleOf(t *testing.T) {
	br := &v1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: "br-0f4b86e17f06af2a840841950c7eb1fe"},
		Spec: v1.BattleResultSpec{
			BattleID:  "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=",
			SDKAppID:  "1400000001",
			OpType:    0,
			EndReason: v1.EndReasonTimeUp,
			EndTime:   1700000300,
			EndedAt:   endedAt(1700000300),
			Rooms: []v1.BattleRoom{
				{RoomID: "room-1", Score: 12, OwnerAccount: "host-1", Caller: true, Result: v1.RoomResultWin, Rank: 1},
				{RoomID: "Room-2", Score: 7, OwnerAccount: "host-2", Result: v1.RoomResultLoss, Rank: 2},
				{RoomID: "房间3", Score: -1, OwnerAccount: "", Result: v1.RoomResultLoss, Rank: 3},
			},
			RoomCount: 3,
			Outcome:   v1.OutcomeWin,
			Winners:   []v1.RoomID{"room-1"},
		},
	}
	tests := []struct {
		name   string
		roomID v1.RoomID
		want   RoomBattle
		wantOK bool
	}{
		{
			name:   "The calling room gets the battle's identity, end and its own result, score and owner.",
			roomID: "room-1",
			want: RoomBattle{
				BattleResult: "br-0f4b86e17f06af2a840841950c7eb1fe", BattleID: "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=",
				EndTime: 1700000300, EndedAt: 1700000300, EndReason: v1.EndReasonTimeUp,
				Result: v1.RoomResultWin, Score: 12, OwnerAccount: "host-1",
			},
			wantOK: true,
		},
		{
			name:   "The last room, with a unicode ID and a negative score, gets its own data.",
			roomID: "房间3",
			want: RoomBattle{
				BattleResult: "br-0f4b86e17f06af2a840841950c7eb1fe", BattleID: "kJ8v2Qw+Lm4/Zx7Rt1Yp0Nc3Hs5Ua9Eb6Df8Gi2Kj4=",
				EndTime: 1700000300, EndedAt: 1700000300, EndReason: v1.EndReasonTimeUp,
				Result: v1.RoomResultLoss, Score: -1, OwnerAccount: "",
			},
			wantOK: true,
		},
		{
			name:   "A room that was not in the battle gets false.",
			roomID: "room-9",
			wantOK: false,
		},
		{
			name:   "A room ID that differs from a battle room only in case is a different room.",
			roomID: "room-2",
			wantOK: false,
		},
	}
	// A battle without endedAt (an EndTime RFC 3339 cannot write) keeps none, and its room's
	// last battle shows none.
	t.Run("no endedAt", func(t *testing.T) {
		none := br.DeepCopy()
		none.Spec.EndedAt = nil
		got, ok := RoomBattleOf(none, "room-1")
		if !ok || got.EndedAt != NoEndedAt {
			t.Fatalf("RoomBattleOf without endedAt: %+v, %v", got, ok)
		}
		if last := Fold(v1.RoomStatsStatus{}, []RoomBattle{got}).LastBattle; last.BattleResult == "" || last.EndedAt != nil {
			t.Errorf("lastBattle %+v, want one without endedAt", last)
		}
		if at := TimeOf(UnixOf(br.Spec.EndedAt)); !at.Equal(br.Spec.EndedAt) {
			t.Errorf("endedAt %v read back as %v", br.Spec.EndedAt, at)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RoomBattleOf(br, tt.roomID)
			if ok != tt.wantOK {
				t.Errorf("RoomBattleOf(%q) ok = %v, want %v", tt.roomID, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RoomBattleOf(%q) (-want +got):\n%s", tt.roomID, diff)
			}
		})
	}
}

// checkObjectName fails unless name is a valid object name that also fits a label value.
func checkObjectName(t *testing.T, app string, room v1.RoomID, name string) {
	t.Helper()
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		t.Errorf("RoomStatsName(%q, %q) = %q is not a valid object name: %v", app, room, name, errs)
	}
	if len(name) > 63 {
		t.Errorf("RoomStatsName(%q, %q) = %q is %d characters, want at most 63", app, room, name, len(name))
	}
}

func TestRoomStatsName(t *testing.T) {
	const maxApp = "99999999999999999999"
	tests := []struct {
		name string
		app  string
		room v1.RoomID
		want string
	}{
		{name: "A lowercase DNS-label room ID is used as it is after the app.", app: "1400000001", room: "room-1", want: "1400000001-room-1"},
		{name: "A room ID of digits only is used as it is.", app: "1400000001", room: "42", want: "1400000001-42"},
		{name: "A readable room ID that just fits 63 characters stays readable.", app: "1400000001", room: v1.RoomID(strings.Repeat("a", 52)), want: "1400000001-" + strings.Repeat("a", 52)},
		{name: "A readable room ID with the longest app stays readable.", app: maxApp, room: "room-1", want: maxApp + "-room-1"},
		{name: "A lowercase room ID one character too long to fit is cut and hashed.", app: "1400000001", room: v1.RoomID(strings.Repeat("a", 53)), want: "1400000001-aaaaaaaaaaaaaaaaaaaaaaaa.a336f48d79662eaa"},
		{name: "Upper-case letters and '_' are lowered, turned into '-' and hashed.", app: "1400000001", room: "Room_A", want: "1400000001-room-a.c31423e654a4ec1b"},
		{name: "A dot in a room ID is turned into '-' and hashed.", app: "1400000001", room: "room.a", want: "1400000001-room-a.972bd513f7e902ee"},
		{name: "A leading '-' is dropped and hashed.", app: "1400000001", room: "-room", want: "1400000001-room.f5e406b97805d6cf"},
		{name: "A trailing newline is dropped and hashed.", app: "1400000001", room: "room-1\n", want: "1400000001-room-1.e5a5f7944945882a"},
		{name: "A room ID of illegal characters only is shown as 'room' and hashed.", app: "1400000001", room: "___", want: "1400000001-room.869485b596f0581c"},
		{name: "A unicode room ID keeps its ASCII digits and is hashed.", app: "1400000001", room: "房间1", want: "1400000001-1.76a109f28681b022"},
		{name: "A 256-byte mixed-case room ID is cut and hashed.", app: "1400000001", room: v1.RoomID(strings.Repeat("Ab_D", 64)), want: "1400000001-ab-dab-dab-dab-dab-dab-d.7e737d8d5e65bff4"},
		{name: "A 256-byte unicode room ID is hashed.", app: "1400000001", room: v1.RoomID(strings.Repeat("房", 85) + "x"), want: "1400000001-x.23d3e82e297a8d12"},
		{name: "A 256-byte lowercase room ID with the longest app still fits 63 characters.", app: maxApp, room: v1.RoomID(strings.Repeat("abc1", 64)), want: maxApp + "-abc1abc1abc1abc1abc1abc1.426608b1ebe4e614"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RoomStatsName(tt.app, tt.room)
			if got != tt.want {
				t.Errorf("RoomStatsName(%q, %q) = %q, want %q", tt.app, tt.room, got, tt.want)
			}
			if again := RoomStatsName(tt.app, tt.room); again != got {
				t.Errorf("RoomStatsName(%q, %q) gave %q, then %q", tt.app, tt.room, got, again)
			}
			checkObjectName(t, tt.app, tt.room, got)
		})
	}
}

type appRoom struct {
	app  string
	room v1.RoomID
}

func TestRoomStatsNameDistinct(t *testing.T) {
	const app = "1400000001"
	hashed := RoomStatsName(app, "Room_A")            // 1400000001-room-a.<hash>
	hashedRoom := strings.TrimPrefix(hashed, app+"-") // room-a.<hash>
	tests := []struct {
		name  string
		pairs []appRoom
	}{
		{
			name:  "Room IDs that differ only in case get different names.",
			pairs: []appRoom{{app, "Room_A"}, {app, "room_a"}, {app, "ROOM_A"}, {app, "room-1"}, {app, "Room-1"}, {app, "ROOM-1"}},
		},
		{
			name:  "Room IDs that differ only in illegal characters get different names.",
			pairs: []appRoom{{app, "room_a"}, {app, "room-a"}, {app, "room.a"}, {app, "room a"}, {app, "room__a"}, {app, "room-_a"}, {app, "room/a"}},
		},
		{
			name:  "Room IDs made only of illegal characters get different names.",
			pairs: []appRoom{{app, "_"}, {app, "__"}, {app, "___"}, {app, "-"}, {app, "."}, {app, " "}, {app, "房"}, {app, "间"}},
		},
		{
			name:  "The same room in two apps gets two names.",
			pairs: []appRoom{{"1400000001", "room-1"}, {"1400000002", "room-1"}, {"1400000001", "Room_A"}, {"1400000002", "Room_A"}},
		},
		{
			name:  "An app that is a prefix of another does not let the rest of the name move between app and room.",
			pairs: []appRoom{{"14", "00-x"}, {"1400", "x"}, {"140", "0-x"}, {"14", "00_x"}, {"1400", "X"}, {"1", "400-x"}},
		},
		{
			name:  "A room ID that looks like another room's hashed name gets its own name.",
			pairs: []appRoom{{app, "Room_A"}, {app, v1.RoomID(hashedRoom)}, {app, v1.RoomID(strings.ReplaceAll(hashedRoom, ".", "-"))}, {app, v1.RoomID(hashed)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]appRoom{}
			for _, p := range tt.pairs {
				got := RoomStatsName(p.app, p.room)
				if other, ok := seen[got]; ok {
					t.Errorf("RoomStatsName(%q, %q) and RoomStatsName(%q, %q) are both %q", other.app, other.room, p.app, p.room, got)
				}
				seen[got] = p
				checkObjectName(t, p.app, p.room, got)
			}
		})
	}
}

func TestRoomStatsNameNeverShared(t *testing.T) {
	// A small alphabet makes many IDs that differ only in case or in illegal characters.
	// U+212A is the Kelvin sign, which lowers to an ASCII 'k'.
	alphabet := []rune{'a', 'A', 'k', 'K', '0', '1', '_', '-', '.', ' ', '房', '\u212a'}
	r := rand.New(rand.NewPCG(1, 2))
	rooms := map[v1.RoomID]bool{}
	for len(rooms) < 2000 {
		var b strings.Builder
		for range 1 + r.IntN(6) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		rooms[v1.RoomID(b.String())] = true
	}
	seen := map[string]appRoom{}
	for _, app := range []string{"14", "1400"} {
		for room := range rooms {
			got := RoomStatsName(app, room)
			if other, ok := seen[got]; ok {
				t.Fatalf("RoomStatsName(%q, %q) and RoomStatsName(%q, %q) are both %q", other.app, other.room, app, room, got)
			}
			seen[got] = appRoom{app, room}
			checkObjectName(t, app, room, got)
		}
	}
}

func TestTotalScoreSaturates(t *testing.T) {
	high := func(name string, end int64, score int64) RoomBattle {
		b := winAt(name, end, 0)
		b.Score = score
		return b
	}
	for _, tc := range []struct {
		name   string
		scores []int64
		want   int64
	}{
		{"Two battles of the highest score stay at it, not -2.", []int64{math.MaxInt64, math.MaxInt64}, math.MaxInt64},
		{"Past the bound it stays there; a negative score then counts down from it.", []int64{math.MaxInt64, 1, -5}, math.MaxInt64 - 5},
		{"Two battles of the lowest score stay at it.", []int64{math.MinInt64, math.MinInt64}, math.MinInt64},
		{"Scores of both signs near the bounds add exactly.", []int64{math.MaxInt64, math.MinInt64, 7}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var battles []RoomBattle
			for i, score := range tc.scores {
				battles = append(battles, high(fmt.Sprintf("b%d", i), int64(i+1), score))
			}
			if got := Fold(v1.RoomStatsStatus{}, battles).TotalScore; got != tc.want {
				t.Fatalf("totalScore %d, want %d", got, tc.want)
			}
		})
	}
}
