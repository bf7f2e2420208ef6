package plugin

import "testing"

func TestFieldPath(t *testing.T) {
	for _, tc := range []struct{ prefix, pointer, want string }{
		{"order", "/fees/0/fee_amount", "order.fees[0].fee_amount"},
		{"order", "/appid", "order.appid"},
		{"", "/discounts/12/discount_name", "discounts[12].discount_name"},
		{"", "/reason", "reason"},
		{"order", "", "order"},
	} {
		if got := fieldPath(tc.prefix, tc.pointer); got != tc.want {
			t.Errorf("fieldPath(%q, %q) = %q, want %q", tc.prefix, tc.pointer, got, tc.want)
		}
	}
}
