package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
	"github.com/battleops/battle-operator/internal/battle"
	"github.com/battleops/battle-operator/internal/testutil"
)

type answered struct {
	status int
	answer Answer
	header http.Header
}

// send makes one request as Tencent would and decodes the JSON answer, which every answer must be.
func send(t *testing.T, method, rawURL string, body io.Reader) answered {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := tencentClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer within Tencent's 2 seconds: %v", method, rawURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a Answer
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("%s %s: the answer is not the documented JSON: %q", method, rawURL, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return answered{status: resp.StatusCode, answer: a, header: resp.Header}
}

func (r *testReceiver) post(t *testing.T, query string, body []byte) answered {
	t.Helper()
	return send(t, http.MethodPost, r.url+"?"+query, bytes.NewReader(body))
}

func wantOK(t *testing.T, got answered) {
	t.Helper()
	if got.status != http.StatusOK || got.answer != (Answer{ActionStatus: "OK", ErrorInfo: "", ErrorCode: 0}) {
		t.Fatalf("answer = %d %+v, want 200 OK", got.status, got.answer)
	}
}

func wantFail(t *testing.T, got answered, status, code int, info string) {
	t.Helper()
	if got.status != status || got.answer.ActionStatus != "FAIL" || got.answer.ErrorCode != code {
		t.Fatalf("answer = %d %+v, want %d FAIL with ErrorCode %d", got.status, got.answer, status, code)
	}
	if !strings.Contains(got.answer.ErrorInfo, info) {
		t.Fatalf("ErrorInfo = %q, want it to mention %q", got.answer.ErrorInfo, info)
	}
}

func battles(t *testing.T, namespace string) []livev1alpha1.BattleResult {
	t.Helper()
	var list livev1alpha1.BattleResultList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func wantStored(t *testing.T, namespace string, n int) {
	t.Helper()
	if got := battles(t, namespace); len(got) != n {
		t.Fatalf("%d BattleResults stored in %s, want %d", len(got), namespace, n)
	}
}

func getBattle(t *testing.T, namespace, battleID string) *livev1alpha1.BattleResult {
	t.Helper()
	var br livev1alpha1.BattleResult
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: battle.Name(battleID)}, &br); err != nil {
		t.Fatalf("BattleResult of %q: %v", battleID, err)
	}
	return &br
}

func battleID(t *testing.T, body []byte) string {
	t.Helper()
	var b struct{ BattleId string }
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return b.BattleId
}

func counter(command, result string) float64 {
	return promtest.ToFloat64(callbacksTotal.WithLabelValues(command, result))
}

func TestEveryFixtureIsStoredWithItsOutcome(t *testing.T) {
	t.Parallel()
	type room struct {
		ID      string
		Owner   string
		Score   int64
		Caller  bool
		Result  livev1alpha1.RoomResult
		Rank    int32
		ExtraOK bool
	}
	for _, tc := range []struct {
		file    string
		reason  livev1alpha1.EndReason
		outcome livev1alpha1.Outcome
		winners []livev1alpha1.RoomID
		rooms   []room
	}{{
		file: "end-battle-official-example.json", reason: livev1alpha1.EndReasonTimeUp, outcome: livev1alpha1.OutcomeDraw, winners: []livev1alpha1.RoomID{},
		rooms: []room{
			{ID: "pk-3", Owner: "144115245353757792", Caller: true, Result: livev1alpha1.RoomResultDraw, Rank: 1},
			{ID: "pk-5", Owner: "144115245442327522", Result: livev1alpha1.RoomResultDraw, Rank: 1},
		},
	}, {
		file: "end-battle-caller-wins.json", reason: livev1alpha1.EndReasonTimeUp, outcome: livev1alpha1.OutcomeWin, winners: []livev1alpha1.RoomID{"live_room_1001"},
		rooms: []room{
			{ID: "live_room_1001", Owner: "host_alice", Score: 1520, Caller: true, Result: livev1alpha1.RoomResultWin, Rank: 1},
			{ID: "live_room_2002", Owner: "host_bob", Score: 980, Result: livev1alpha1.RoomResultLoss, Rank: 2},
		},
	}, {
		file: "end-battle-draw.json", reason: livev1alpha1.EndReasonTimeUp, outcome: livev1alpha1.OutcomeDraw, winners: []livev1alpha1.RoomID{},
		rooms: []room{
			{ID: "live_room_1001", Owner: "host_alice", Score: 777, Caller: true, Result: livev1alpha1.RoomResultDraw, Rank: 1},
			{ID: "live_room_2002", Owner: "host_bob", Score: 777, Result: livev1alpha1.RoomResultDraw, Rank: 1},
		},
	}, {
		file: "end-battle-four-rooms.json", reason: livev1alpha1.EndReasonTimeUp, outcome: livev1alpha1.OutcomeWin, winners: []livev1alpha1.RoomID{"live_room_2002"},
		rooms: []room{
			{ID: "live_room_1001", Owner: "host_alice", Score: 300, Caller: true, Result: livev1alpha1.RoomResultLoss, Rank: 3},
			{ID: "live_room_2002", Owner: "host_bob", Score: 4100, Result: livev1alpha1.RoomResultWin, Rank: 1},
			{ID: "live_room_3003", Owner: "144115245353757792", Score: 2750, Result: livev1alpha1.RoomResultLoss, Rank: 2},
			{ID: "live_room_4004", Owner: "host_dana", Score: 0, Result: livev1alpha1.RoomResultLoss, Rank: 4},
		},
	}, {
		file: "end-battle-all-hosts-exited.json", reason: livev1alpha1.EndReasonAllHostsExited, outcome: livev1alpha1.OutcomeNoContest, winners: []livev1alpha1.RoomID{},
		rooms: []room{
			{ID: "live_room_2002", Owner: "host_bob", Score: 120, Caller: true, Result: livev1alpha1.RoomResultNoContest, Rank: 1},
			{ID: "live_room_3003", Owner: "144115245353757792", Score: 45, Result: livev1alpha1.RoomResultNoContest, Rank: 2},
		},
	}, {
		file: "end-battle-never-started.json", reason: livev1alpha1.EndReasonNeverStarted, outcome: livev1alpha1.OutcomeNoContest, winners: []livev1alpha1.RoomID{},
		rooms: []room{
			{ID: "live_room_1001", Owner: "host_alice", Caller: true, Result: livev1alpha1.RoomResultNoContest, Rank: 1},
			{ID: "live_room_4004", Owner: "host_dana", Result: livev1alpha1.RoomResultNoContest, Rank: 1},
		},
	}} {
		t.Run(tc.file, func(t *testing.T) {
			body := testutil.Fixture(t, tc.file)
			// Through the receiver the manager runs, as cmd/main.go wires it.
			wantOK(t, send(t, http.MethodPost, managerURL+"?"+testutil.EndBattleQuery(managerAppID), bytes.NewReader(body)))
			br := getBattle(t, managerNamespace, battleID(t, body))

			var sent map[string]any
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&sent); err != nil {
				t.Fatal(err)
			}
			num := func(k string) int64 { n, _ := sent[k].(json.Number).Int64(); return n }
			s := br.Spec
			if s.BattleID != sent["BattleId"] || s.SDKAppID != managerAppID || s.ClientIP != "127.0.0.1" || s.OptPlatform != "RESTAPI" ||
				s.OpType != num("OpType") || s.DurationMs != num("Duration") || s.CreateTime != num("CreateTime") ||
				s.StartTime != num("StartTime") || s.EndTime != num("EndTime") || s.EventTimeMs != num("EventTime") {
				t.Errorf("stored spec %+v does not carry the callback's values %v", s, sent)
			}
			if s.EndedAt == nil || !s.EndedAt.Time.Equal(time.Unix(num("EndTime"), 0)) {
				t.Errorf("endedAt = %v, want EndTime %d", s.EndedAt, num("EndTime"))
			}
			if s.EndReason != tc.reason || s.Outcome != tc.outcome || int(s.RoomCount) != len(tc.rooms) {
				t.Errorf("endReason, outcome, roomCount = %s, %s, %d; want %s, %s, %d", s.EndReason, s.Outcome, s.RoomCount, tc.reason, tc.outcome, len(tc.rooms))
			}
			if diff := cmp.Diff(tc.winners, s.Winners); diff != "" {
				t.Errorf("winners (-want +got):\n%s", diff)
			}
			var got []room
			for _, r := range s.Rooms {
				got = append(got, room{ID: string(r.RoomID), Owner: r.OwnerAccount, Score: r.Score, Caller: r.Caller, Result: r.Result, Rank: r.Rank})
			}
			if diff := cmp.Diff(tc.rooms, got); diff != "" {
				t.Errorf("rooms (-want +got):\n%s", diff)
			}
			// The selectable fields answer on the API server.
			var selected livev1alpha1.BattleResultList
			if err := k8sClient.List(context.Background(), &selected, client.InNamespace(managerNamespace),
				client.MatchingFields{"spec.battleId": s.BattleID, "spec.outcome": string(tc.outcome), "spec.endReason": string(tc.reason)}); err != nil {
				t.Fatal(err)
			}
			if len(selected.Items) != 1 || selected.Items[0].Name != br.Name {
				t.Errorf("field selector on spec.battleId found %d BattleResults, want exactly %s", len(selected.Items), br.Name)
			}
		})
	}
}

func TestUnknownMembersAreKeptExactly(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t, Options{})
	body := []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"extra+fields/1=","OpType":0,"EndTime":1763800303,` +
		`"FromRoomInfo":{"RoomId":"a","Score":2,"Owner_Account":144115245442327522,"Badge": {"level" : 3}},` +
		`"ToRoomList":[{"RoomId":"b","Score":1,"Owner_Account":"x"}],"Region":"ap-guangzhou","Future":[1, 2.50, null]}`)
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	s := getBattle(t, r.namespace, "extra+fields/1=").Spec
	if s.ExtraFields != `{"Region":"ap-guangzhou","Future":[1, 2.50, null]}` {
		t.Errorf("extraFields = %s", s.ExtraFields)
	}
	if s.Rooms[0].ExtraFields != `{"Badge":{"level" : 3}}` || s.Rooms[1].ExtraFields != "" {
		t.Errorf("rooms' extraFields = %q, %q", s.Rooms[0].ExtraFields, s.Rooms[1].ExtraFields)
	}
	if s.Rooms[0].OwnerAccount != "144115245442327522" {
		t.Errorf("ownerAccount = %s, want every digit of 144115245442327522", s.Rooms[0].OwnerAccount)
	}
}

func TestRepeatedDeliveriesStoreOneBattle(t *testing.T) {
	r := newTestReceiver(t, Options{})
	body := testutil.Fixture(t, "end-battle-four-rooms.json")
	identical := promtest.ToFloat64(battleResultDuplicates.WithLabelValues("identical"))
	created := promtest.ToFloat64(battleResultsCreated)

	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	// Delivery metadata may differ between deliveries of one battle.
	wantOK(t, r.post(t, "SdkAppid="+r.appID+"&CallbackCommand=Live.CallbackAfterEndBattle&ClientIP=10.1.2.3&OptPlatform=Android", body))
	const concurrent = 24
	var wg sync.WaitGroup
	results := make(chan answered, concurrent)
	for range concurrent {
		wg.Go(func() {
			results <- r.post(t, testutil.EndBattleQuery(r.appID), body)
		})
	}
	wg.Wait()
	close(results)
	for got := range results {
		wantOK(t, got)
	}

	wantStored(t, r.namespace, 1)
	if s := getBattle(t, r.namespace, battleID(t, body)).Spec; s.ClientIP != "127.0.0.1" {
		t.Errorf("clientIP = %q: the first delivery's metadata must stay", s.ClientIP)
	}
	if got := promtest.ToFloat64(battleResultsCreated) - created; got != 1 {
		t.Errorf("battleops_battleresults_created_total grew by %v, want 1", got)
	}
	if got := promtest.ToFloat64(battleResultDuplicates.WithLabelValues("identical")) - identical; got != concurrent+1 {
		t.Errorf("identical duplicates grew by %v, want %d", got, concurrent+1)
	}
}

func TestConflictingDuplicateKeepsTheFirstAndWarns(t *testing.T) {
	r := newTestReceiver(t, Options{})
	body := testutil.Fixture(t, "end-battle-caller-wins.json")
	changed := bytes.Replace(body, []byte(`"Score": 980`), []byte(`"Score": 9800`), 1)
	if bytes.Equal(body, changed) {
		t.Fatal("the fixture changed: no score to alter")
	}
	conflicts := promtest.ToFloat64(battleResultDuplicates.WithLabelValues("conflicting"))
	answers := counter(battle.CommandEndBattle, resultConflict)

	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), changed))

	wantStored(t, r.namespace, 1)
	br := getBattle(t, r.namespace, battleID(t, body))
	if br.Spec.Rooms[1].Score != 980 || br.Spec.Winners[0] != "live_room_1001" {
		t.Errorf("stored battle changed: %+v", br.Spec.Rooms)
	}
	if got := promtest.ToFloat64(battleResultDuplicates.WithLabelValues("conflicting")) - conflicts; got != 1 {
		t.Errorf("conflicting duplicates grew by %v, want 1", got)
	}
	if got := counter(battle.CommandEndBattle, resultConflict) - answers; got != 1 {
		t.Errorf("callbacks_total{result=%q} grew by %v, want 1", resultConflict, got)
	}
	var found *eventsv1.Event
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var list eventsv1.EventList
		if err := k8sClient.List(ctx, &list, client.InNamespace(r.namespace)); err != nil {
			return false, err
		}
		for i, e := range list.Items {
			if e.Regarding.Name == br.Name && e.Regarding.Kind == "BattleResult" && e.Reason == "ConflictingDuplicate" {
				found = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no ConflictingDuplicate Event on %s: %v", br.Name, err)
	}
	if found.Type != "Warning" || !strings.Contains(found.Note, "rooms") {
		t.Errorf("event = %s %q, want a Warning naming the rooms field", found.Type, found.Note)
	}
}

func TestOtherCommandsAreAcknowledgedAndIgnored(t *testing.T) {
	r := newTestReceiver(t, Options{})
	start := counter(battle.CommandStartBattle, resultIgnored)
	gift := counter(commandBeforeSendGift, resultIgnored)
	other := counter(commandOther, resultIgnored)

	wantOK(t, r.post(t, "SdkAppid="+r.appID+"&CallbackCommand=Live.CallbackAfterStartBattle&contenttype=json", testutil.Fixture(t, "start-battle.json")))
	wantOK(t, r.post(t, "SdkAppid="+r.appID+"&CallbackCommand=Live.CallbackBeforeSendGift", []byte(`{"CallbackCommand":"Live.CallbackBeforeSendGift","RoomId":"r1","GiftId":"rose"}`)))
	// The alias some pages use for the query key.
	wantOK(t, r.post(t, "SdkAppid="+r.appID+"&WebhookCommand=Live.CallbackAfterCreateRoom", []byte(`{"CallbackCommand":"Live.CallbackAfterCreateRoom"}`)))

	wantStored(t, r.namespace, 0)
	if got := counter(battle.CommandStartBattle, resultIgnored) - start; got != 1 {
		t.Errorf("start-battle answers counted %v, want 1", got)
	}
	if got := counter(commandBeforeSendGift, resultIgnored) - gift; got != 1 {
		t.Errorf("gift checks counted %v, want 1", got)
	}
	if got := counter(commandOther, resultIgnored) - other; got != 1 {
		t.Errorf("other commands counted %v, want 1 (label values stay bounded)", got)
	}
}

func TestQueryKeysMatchCaseInsensitively(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t, Options{})
	wantOK(t, r.post(t, "sdkappid="+r.appID+"&CALLBACKCOMMAND=Live.CallbackAfterEndBattle&clientip=1.2.3.4", testutil.Fixture(t, "end-battle-draw.json")))
	if s := getBattle(t, r.namespace, battleID(t, testutil.Fixture(t, "end-battle-draw.json"))).Spec; s.ClientIP != "1.2.3.4" {
		t.Errorf("clientIP = %q", s.ClientIP)
	}
	wantOK(t, r.post(t, "SdkAppId="+r.appID+"&WebhookCommand=Live.CallbackAfterEndBattle", testutil.Fixture(t, "end-battle-caller-wins.json")))
	wantStored(t, r.namespace, 2)
}

// rooms returns a battle-end body with n rooms.
func rooms(n int) []byte {
	var to []string
	for i := 1; i < n; i++ {
		to = append(to, fmt.Sprintf(`{"RoomId":"r%d","Score":%d}`, i, i))
	}
	return []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"many","OpType":0,"FromRoomInfo":{"RoomId":"r0","Score":0},"ToRoomList":[` + strings.Join(to, ",") + `]}`)
}

// TestABattleTooLargeToStoreIsRefusedAtOnce: a body within the body limit whose battle would
// be stored over MaxStoredBytes (unknown members grow as JSON text: each \" becomes \\\")
// is answered 413 without a create; one just within is stored.
func TestABattleTooLargeToStoreIsRefusedAtOnce(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t, Options{MaxBodyBytes: 1 << 20})
	q := testutil.EndBattleQuery(r.appID)
	padded := func(id string, quotes int) []byte {
		return []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"` + id + `","OpType":0,"FromRoomInfo":{"RoomId":"a"},"Pad":"` +
			strings.Repeat(`\"`, quotes) + `"}`)
	}
	big := padded("too-big", 400_000) // 800 KB sent, about 1.6 MB stored: over etcd's 1.5 MiB
	wantFail(t, r.post(t, q, big), http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "a BattleResult may hold")
	wantStored(t, r.namespace, 0)
	wantOK(t, r.post(t, q, padded("fits", 200_000))) // 400 KB sent, about 800 KB stored
	wantStored(t, r.namespace, 1)
}

func TestRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	const limit = 4096
	r := newTestReceiver(t, Options{MaxBodyBytes: limit})
	good := testutil.Fixture(t, "end-battle-caller-wins.json")
	endBattle := func(members string) []byte {
		return []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle",` + members + `}`)
	}
	huge := append(bytes.TrimSuffix(bytes.TrimSpace(good), []byte("}")), []byte(`,"Pad":"`+strings.Repeat("x", limit)+`"}`)...)
	q := testutil.EndBattleQuery(r.appID)
	for _, tc := range []struct {
		name, method, path, query string
		body                      []byte
		chunked                   bool
		status, code              int
		info                      string
	}{
		{name: "a GET is not allowed", method: http.MethodGet, query: q, status: 405, code: CodeMethodNotAllowed, info: "GET"},
		{name: "a PUT is not allowed", method: http.MethodPut, query: q, body: good, status: 405, code: CodeMethodNotAllowed, info: "PUT"},
		{name: "another path is not found", path: "/callbacks", query: q, body: good, status: 404, code: CodeNotFound, info: "/callbacks"},
		{name: "a missing SdkAppid is forbidden", query: "CallbackCommand=Live.CallbackAfterEndBattle", body: good, status: 403, code: CodeUnknownApp, info: "SdkAppid"},
		{name: "another app's SdkAppid is forbidden", query: testutil.EndBattleQuery("1400999999"), body: good, status: 403, code: CodeUnknownApp, info: "1400999999"},
		{name: "two different SdkAppids are forbidden", query: q + "&SdkAppId=1400999999", body: good, status: 403, code: CodeUnknownApp, info: "more than once"},
		{name: "a body over the limit is too large", query: q, body: huge, status: 413, code: CodeBodyTooLarge, info: "limit"},
		{name: "a chunked body over the limit is too large", query: q, body: huge, chunked: true, status: 413, code: CodeBodyTooLarge, info: "limit"},
		{name: "a body that is not JSON is refused", query: q, body: []byte(`{"CallbackCommand":`), status: 400, code: CodeInvalidJSON, info: "not valid JSON"},
		{name: "a JSON array is refused", query: q, body: []byte(`[1]`), status: 400, code: CodeInvalidJSON, info: "JSON object"},
		{name: "a commented body is refused", query: q, body: []byte("{// the battle\n\"BattleId\":\"x\"}"), status: 400, code: CodeInvalidJSON, info: "not valid JSON"},
		{name: "a missing query command is refused", query: "SdkAppid=" + r.appID, body: good, status: 400, code: CodeBadCommand, info: "CallbackCommand query parameter"},
		{name: "a missing body command is refused", query: q, body: []byte(`{"BattleId":"x"}`), status: 400, code: CodeBadCommand, info: "missing from the body"},
		{name: "a command of the wrong type is refused", query: q, body: []byte(`{"CallbackCommand":7}`), status: 400, code: CodeBadCommand, info: "CallbackCommand: must be a string"},
		{name: "disagreeing commands are refused", query: "SdkAppid=" + r.appID + "&CallbackCommand=Live.CallbackAfterStartBattle", body: good, status: 400, code: CodeBadCommand, info: "Live.CallbackAfterStartBattle"},
		{name: "a score of the wrong type is refused", query: q, body: endBattle(`"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"a","Score":"high"}`), status: 400, code: CodeInvalidField, info: "FromRoomInfo.Score"},
		{name: "a fractional OpType is refused", query: q, body: endBattle(`"BattleId":"b","OpType":0.5,"FromRoomInfo":{"RoomId":"a"}`), status: 400, code: CodeInvalidField, info: "OpType"},
		{name: "an Owner_Account of the wrong type is refused", query: q, body: endBattle(`"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"a","Owner_Account":true}`), status: 400, code: CodeInvalidField, info: "FromRoomInfo.Owner_Account"},
		{name: "a missing BattleId is refused", query: q, body: endBattle(`"OpType":0,"FromRoomInfo":{"RoomId":"a"}`), status: 400, code: CodeInvalidField, info: "BattleId: missing"},
		{name: "a missing RoomId is refused", query: q, body: endBattle(`"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"a"},"ToRoomList":[{"Score":1}]`), status: 400, code: CodeInvalidField, info: "ToRoomList[0].RoomId: missing"},
		{name: "a RoomId twice is refused", query: q, body: endBattle(`"BattleId":"b","OpType":0,"FromRoomInfo":{"RoomId":"a"},"ToRoomList":[{"RoomId":"a"}]`), status: 400, code: CodeInvalidField, info: "ToRoomList[0].RoomId"},
		{name: "a battle without rooms is refused", query: q, body: endBattle(`"BattleId":"b","OpType":0,"ToRoomList":[]`), status: 400, code: CodeInvalidField, info: "at least one room"},
		{name: "a battle of 101 rooms is refused", query: q, body: rooms(101), status: 400, code: CodeInvalidField, info: "at most 100 rooms"},
		{name: "a BattleId escaping half a surrogate pair is refused", query: q, body: endBattle(`"BattleId":"b\ud800","OpType":0,"FromRoomInfo":{"RoomId":"a"}`), status: 400, code: CodeInvalidField, info: "surrogate"},
		{name: "an over-long ClientIP is refused", query: "SdkAppid=" + r.appID + "&CallbackCommand=Live.CallbackAfterEndBattle&ClientIP=" + strings.Repeat("1", 300), body: good, status: 400, code: CodeInvalidField, info: "ClientIP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/callback"
			}
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(bytes.NewReader(tc.body)) // unknown length: sent chunked
			}
			u := strings.TrimSuffix(r.url, "/callback") + path + "?" + tc.query
			got := send(t, method, u, body)
			wantFail(t, got, tc.status, tc.code, tc.info)
			if tc.status == 405 && got.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", got.header.Get("Allow"))
			}
			wantStored(t, r.namespace, 0)
		})
	}
	// The limits are not off by one: a battle of exactly 100 rooms is stored.
	wantOK(t, r.post(t, q, rooms(100)))
	if got := getBattle(t, r.namespace, "many").Spec.RoomCount; got != 100 {
		t.Errorf("roomCount = %d, want 100", got)
	}
}

func TestSignatureIsRequiredWhenATokenIsSet(t *testing.T) {
	t.Parallel()
	const token = "xxxxyyyy"
	r := newTestReceiver(t, Options{Tokens: tokensOf(t, token), MaxSkew: 60 * time.Second})
	body := testutil.Fixture(t, "end-battle-draw.json")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-2*time.Minute).Unix(), 10)
	q := testutil.EndBattleQuery(r.appID)
	for _, tc := range []struct {
		name, query, info string
	}{
		{"a missing Sign is unauthorized", q + "&RequestTime=" + now, "required"},
		{"a missing RequestTime is unauthorized", q + "&Sign=" + Sign(token, now), "required"},
		{"a wrong Sign is unauthorized", q + "&RequestTime=" + now + "&Sign=" + Sign("another", now), "does not match"},
		{"a Sign of another time is unauthorized", q + "&RequestTime=" + now + "&Sign=" + Sign(token, old), "does not match"},
		{"a Sign that is not hex is unauthorized", q + "&RequestTime=" + now + "&Sign=zz", "does not match"},
		{"a RequestTime outside the skew is unauthorized", q + "&RequestTime=" + old + "&Sign=" + Sign(token, old), "more than the 1m0s allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, r.post(t, tc.query, body), http.StatusUnauthorized, CodeBadSignature, tc.info)
			wantStored(t, r.namespace, 0)
		})
	}
	wantOK(t, r.post(t, q+"&RequestTime="+now+"&Sign="+Sign(token, now), body))
	wantOK(t, r.post(t, q+"&requesttime="+now+"&SIGN="+strings.ToUpper(Sign(token, now)), body))
	wantStored(t, r.namespace, 1)
}

func TestChecksRunInTheirDocumentedOrder(t *testing.T) {
	t.Parallel()
	const token, limit = "order-token", 1024
	r := newTestReceiver(t, Options{Tokens: tokensOf(t, token), MaxBodyBytes: limit})
	now := strconv.FormatInt(time.Now().Unix(), 10)
	signed := "&RequestTime=" + now + "&Sign=" + Sign(token, now)
	hugeGarbage := []byte(strings.Repeat("<", limit+1))
	badBattle := []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":7}`)
	badBattleOtherCommand := []byte(`{"CallbackCommand":"Live.CallbackAfterStartBattle","BattleId":7}`)
	for _, tc := range []struct {
		name, method, path, query string
		body                      []byte
		status, code              int
	}{
		{"the method before everything", http.MethodGet, "/elsewhere", "", hugeGarbage, 405, CodeMethodNotAllowed},
		{"the path before the app", http.MethodPost, "/elsewhere", "", hugeGarbage, 404, CodeNotFound},
		{"the app before the signature", http.MethodPost, "/callback", "SdkAppid=1", hugeGarbage, 403, CodeUnknownApp},
		{"the signature before the size", http.MethodPost, "/callback", "SdkAppid=" + r.appID + "&Sign=00&RequestTime=" + now, hugeGarbage, 401, CodeBadSignature},
		{"the size before the JSON", http.MethodPost, "/callback", "SdkAppid=" + r.appID + signed, hugeGarbage, 413, CodeBodyTooLarge},
		{"the JSON before the command", http.MethodPost, "/callback", "SdkAppid=" + r.appID + signed, []byte("{"), 400, CodeInvalidJSON},
		{"the command before the fields", http.MethodPost, "/callback", "SdkAppid=" + r.appID + signed + "&CallbackCommand=Live.CallbackAfterStartBattle", badBattle, 400, CodeBadCommand},
		{"fields are checked for a battle end only", http.MethodPost, "/callback", "SdkAppid=" + r.appID + signed + "&CallbackCommand=Live.CallbackAfterStartBattle", badBattleOtherCommand, 200, CodeOK},
		{"then the fields", http.MethodPost, "/callback", "SdkAppid=" + r.appID + signed + "&CallbackCommand=Live.CallbackAfterEndBattle", badBattle, 400, CodeInvalidField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := strings.TrimSuffix(r.url, "/callback") + tc.path + "?" + tc.query
			got := send(t, tc.method, u, bytes.NewReader(tc.body))
			if got.status != tc.status || got.answer.ErrorCode != tc.code {
				t.Fatalf("answer = %d %+v, want %d with ErrorCode %d", got.status, got.answer, tc.status, tc.code)
			}
		})
	}
	wantStored(t, r.namespace, 0)
}

// deadAPIServer accepts connections and never answers.
func deadAPIServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				<-done
				_ = c.Close()
			})
		}
	}()
	t.Cleanup(func() { close(done); _ = l.Close(); conns.Wait() })
	return "http://" + l.Addr().String()
}

// clientFor is a client for another API server address, with the real one's RESTMapper.
func clientFor(t *testing.T, host string) client.Client {
	t.Helper()
	c, err := client.New(&rest.Config{Host: host, QPS: -1}, client.Options{Scheme: testScheme, Mapper: k8sClient.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnavailableAPIServerAnswers503InTime(t *testing.T) {
	t.Run("an API server that never answers", func(t *testing.T) {
		dead := clientFor(t, deadAPIServer(t))
		r := newTestReceiver(t, Options{Client: dead, Reader: dead}) // the default 1.5s budget
		before := counter(battle.CommandEndBattle, resultUnavailable)
		// send fails the test if no answer comes within Tencent's 2 seconds.
		wantFail(t, r.post(t, testutil.EndBattleQuery(r.appID), testutil.Fixture(t, "end-battle-draw.json")), http.StatusServiceUnavailable, CodeUnavailable, "could not store")
		if got := counter(battle.CommandEndBattle, resultUnavailable) - before; got != 1 {
			t.Errorf("unavailable answers counted %v, want 1", got)
		}
	})

	t.Run("an API server that keeps failing is retried, then 503", func(t *testing.T) {
		var calls atomic.Int32
		failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: leader changed","reason":"InternalError","code":500}`))
		}))
		t.Cleanup(failing.Close)
		c := clientFor(t, failing.URL)
		r := newTestReceiver(t, Options{Client: c, Reader: c, Timeout: 400 * time.Millisecond})
		wantFail(t, r.post(t, testutil.EndBattleQuery(r.appID), testutil.Fixture(t, "end-battle-draw.json")), http.StatusServiceUnavailable, CodeUnavailable, "leader changed")
		if calls.Load() < 2 {
			t.Errorf("the API server was called %d times: a transient failure must be retried within the budget", calls.Load())
		}
	})

	t.Run("a battle stored after a slow 503 is acknowledged on redelivery", func(t *testing.T) {
		// A proxy in front of the real API server that holds every request for 2 seconds:
		// the receiver gives up at its budget, the create still lands, and Tencent's retry
		// then finds it stored.
		transport, err := rest.TransportFor(testCfg)
		if err != nil {
			t.Fatal(err)
		}
		target, _ := url.Parse(testCfg.Host)
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.Transport = transport
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			time.Sleep(2 * time.Second)
			// Neither the caller's context nor its closed connection may cancel the create.
			proxy.ServeHTTP(plainWriter{w}, req.WithContext(context.WithoutCancel(req.Context())))
		}))
		t.Cleanup(slow.Close)
		c := clientFor(t, slow.URL)
		r := newTestReceiver(t, Options{Client: c, Reader: c, Timeout: 300 * time.Millisecond})
		body := testutil.Fixture(t, "end-battle-four-rooms.json")
		wantFail(t, r.post(t, testutil.EndBattleQuery(r.appID), body), http.StatusServiceUnavailable, CodeUnavailable, "")

		key := client.ObjectKey{Namespace: r.namespace, Name: battle.Name(battleID(t, body))}
		if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			err := k8sClient.Get(ctx, key, &livev1alpha1.BattleResult{})
			return err == nil, client.IgnoreNotFound(err)
		}); err != nil {
			t.Fatalf("the slow create never landed: %v", err)
		}
		healthy := newTestReceiver(t, Options{Apps: map[string]string{r.appID: r.namespace}})
		wantOK(t, healthy.post(t, testutil.EndBattleQuery(r.appID), body))
		wantStored(t, r.namespace, 1)
	})
}

// plainWriter hides http.CloseNotifier, through which a ReverseProxy would cancel its request.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }

func TestServerServesUntilStoppedAndReportsReadiness(t *testing.T) {
	if err := managerServer.Ready(nil); err != nil {
		t.Fatalf("the manager's receiver is not ready: %v", err)
	}
	s := &Server{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }), Log: managerServer.Log}
	if s.NeedLeaderElection() {
		t.Error("the receiver must serve on every replica, not only the leader")
	}
	if err := s.Ready(nil); err == nil {
		t.Error("ready before it serves")
	}
	addr, stop := runServer(t, s)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil || resp.StatusCode != http.StatusTeapot {
		t.Fatalf("GET = %v, %v", resp, err)
	}
	_ = resp.Body.Close()
	if err := stop(); err != nil {
		t.Fatalf("Start returned %v after a clean stop", err)
	}
	if s.Ready(nil) == nil {
		t.Error("still ready after stopping")
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Error("still serving after stopping")
	}
}

// A BattleResult's spec cannot be changed once stored: the CRD's validation rule says so.
func TestStoredSpecIsImmutable(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t, Options{})
	body := testutil.Fixture(t, "end-battle-caller-wins.json")
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	br := getBattle(t, r.namespace, battleID(t, body))
	br.Spec.Rooms[1].Score = 99999
	err := k8sClient.Update(context.Background(), br)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec is immutable") {
		t.Fatalf("update of spec = %v, want Invalid: spec is immutable", err)
	}
}

// The receiver's write owns the spec as one atomic value: the stored battle's managedFields are
// one entry of `{"f:spec":{}}`, not a field set per field of each room (about 650 bytes more of
// every stored battle, in etcd and in the API server's memory).
func TestStoredSpecIsOwnedWhole(t *testing.T) {
	t.Parallel()
	r := newTestReceiver(t, Options{})
	body := testutil.Fixture(t, "end-battle-four-rooms.json")
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	br := getBattle(t, r.namespace, battleID(t, body))
	if len(br.ManagedFields) != 1 || br.ManagedFields[0].FieldsV1 == nil ||
		br.ManagedFields[0].FieldsV1.GetRawString() != `{"f:spec":{}}` {
		t.Fatalf("managedFields = %+v, want one entry owning {\"f:spec\":{}}", br.ManagedFields)
	}
}

// TestRefusedWritesAre503WithTheCause: the API server refusing the write (an admission
// policy here; a full etcd quota answers the same way, with its own message) is answered 503
// at once, naming the cause, and stores nothing; the receiver goes on serving.
func TestRefusedWritesAre503WithTheCause(t *testing.T) {
	r := newTestReceiver(t, Options{})
	ctx := context.Background()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "no-battles-in-" + r.namespace},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"live.battleops.io"}, APIVersions: []string{"*"}, Resources: []string{"battleresults"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!object.spec.battleId.startsWith("deny-")`,
				Message:    "battles of this app are on hold",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": r.namespace}}},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), obj) })
	}
	body := func(id string) []byte {
		return []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"` + id + `","OpType":0,"FromRoomInfo":{"RoomId":"a"}}`)
	}
	// The policy takes a moment to be in force: a dry run tells.
	testutil.Eventually(t, 30*time.Second, "the policy in force", func(ctx context.Context) error {
		probe := &livev1alpha1.BattleResult{ObjectMeta: metav1.ObjectMeta{Namespace: r.namespace, Name: "probe"},
			Spec: livev1alpha1.BattleResultSpec{BattleID: "deny-probe", SDKAppID: r.appID, Winners: []livev1alpha1.RoomID{},
				EndReason: livev1alpha1.EndReasonNeverStarted, Outcome: livev1alpha1.OutcomeNoContest, RoomCount: 1,
				Rooms: []livev1alpha1.BattleRoom{{RoomID: "a", Result: livev1alpha1.RoomResultNoContest, Rank: 1}}}}
		if err := k8sClient.Create(ctx, probe, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "on hold") {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
	got := r.post(t, testutil.EndBattleQuery(r.appID), body("deny-1"))
	if got.status != http.StatusServiceUnavailable || got.answer.ErrorCode != CodeUnavailable ||
		!strings.Contains(got.answer.ErrorInfo, "battles of this app are on hold") {
		t.Fatalf("answer %d %+v, want 503 naming the policy's message", got.status, got.answer)
	}
	wantStored(t, r.namespace, 0)
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body("allowed-1")))
	wantStored(t, r.namespace, 1)
}

// TestDeliveryLagIsObserved: a new battle's lag from its EventTime to its storing is observed
// under its app; a repeated delivery is not observed again.
func TestDeliveryLagIsObserved(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000100, 0)
	r := newTestReceiver(t, Options{Now: func() time.Time { return now }})
	body := []byte(`{"CallbackCommand":"Live.CallbackAfterEndBattle","BattleId":"lagging","OpType":0,"EventTime":1700000097500,"FromRoomInfo":{"RoomId":"a"}}`)
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	wantOK(t, r.post(t, testutil.EndBattleQuery(r.appID), body))
	var m dto.Metric
	if err := deliveryLag.WithLabelValues(r.appID).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	if h := m.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 2.5 {
		t.Fatalf("lag observed %d times, sum %v; want once, 2.5 s", h.GetSampleCount(), h.GetSampleSum())
	}
}
