// Package v1alpha1 contains the API types of the live.battleops.io group, version v1alpha1.
// +kubebuilder:object:generate=true
// +groupName=live.battleops.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "live.battleops.io", Version: "v1alpha1"}

	// SchemeBuilder adds this group-version's kinds to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every kind of the group-version, and its list.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&BattleResult{}, &BattleResultList{},
		&RoomStats{}, &RoomStatsList{},
		&BattleReaction{}, &BattleReactionList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
